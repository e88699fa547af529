"""``traj train --remote`` forwards every training setting: DPO with its beta, over a real server.

The laptop's store holds four judged runs with corrections; the server (an in-process app on
127.0.0.1 over its own, empty store) receives their preference pairs as a dataset, trains DPO
on the tiny model and hands the adapter back with its ``train/<job>`` events.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_dpo import corrected  # noqa: F401 (the fixture: four runs, each with one corrected click)
from typer.testing import CliRunner

from tests.test_policy_remote import EchoPolicy
from traj.cli import app
from traj.eventlog import Store
from traj.projections import Projections
from traj.serve import create_app, serve_in_thread


@pytest.fixture
def server(tmp_path, tiny_model):
    store = Store.open(tmp_path / "gpu-box")
    with serve_in_thread(create_app(EchoPolicy(), store=store, model_dir=tiny_model)) as url:
        yield url, store
    store.close()


def test_train_remote_objective_dpo_forwards_beta_and_the_settings(corrected, server, tiny_model, home: Path):  # noqa: F811
    corrected.close()
    url, server_store = server
    args = ["train", "price", "--objective", "dpo", "--beta", "0.37", "--steps", "2", "--batch-size", "2"]
    args += ["--rank", "4", "--lr", "0.002", "--ema-alpha", "0.2", "--divergence", "forward", "--epochs", "3"]
    result = CliRunner().invoke(
        app, [*args, "--name", "price-dpo", "--remote", url, "--model", str(tiny_model), "--home", str(home)]
    )
    assert result.exit_code == 0, result.output
    assert "adapter price-dpo" in result.output

    with Store.open(home, readonly=True) as store, Projections(store) as projections:
        [job] = projections.query(
            "SELECT objective, status, steps, CAST(config AS VARCHAR) AS config FROM train_runs"
        ).to_pylist()
        lineage = projections.query(
            "SELECT DISTINCT source_stream, dataset_view FROM lineage WHERE adapter = 'price-dpo' ORDER BY 1"
        ).to_pylist()
        formats = projections.query("SELECT format FROM adapters WHERE name = 'price-dpo' ORDER BY 1").to_pylist()
    # The job's own record, imported back from the server: every setting as given on the laptop.
    config = json.loads(job["config"])
    assert (job["objective"], job["status"], job["steps"]) == ("dpo", "completed", 2)
    assert config["objective"] == "dpo" and config["dpo_beta"] == pytest.approx(0.37)
    assert (config["rank"], config["learning_rate"], config["batch_size"]) == (4, 0.002, 2)
    assert (config["ema_alpha"], config["divergence"], config["epochs"], config["max_steps"]) == (0.2, "forward", 3, 2)
    assert config["task"] == "price"  # recorded with the job, so the task's specialist can be found
    # The lineage leads from the adapter to the judged runs here, through the server's job.
    assert lineage == [{"source_stream": f"run/r{i}", "dataset_view": "decision_pairs"} for i in range(4)]
    assert [f["format"] for f in formats] == ["mlx", "peft"]
    with Projections(server_store) as projections:
        [served] = projections.query("SELECT objective, CAST(config AS VARCHAR) AS config FROM train_runs").to_pylist()
    assert served["objective"] == "dpo" and json.loads(served["config"])["dpo_beta"] == pytest.approx(0.37)


def test_a_dpo_request_on_demos_is_refused_with_what_to_send(server):
    import httpx

    url, _ = server
    answer = httpx.post(f"{url}/train", json={"objective": "dpo", "demo_ids": ["d1"]})
    assert answer.status_code == 422 and "preference pairs" in answer.json()["detail"]


def test_a_preference_dataset_trains_only_as_dpo(server, tmp_path):
    import time

    import httpx

    url, _ = server
    row = {"prompt": "Goal: x\nNext action:", "chosen": '{"kind":"CLICK"}', "rejected": '{"kind":"FINISH"}'}
    httpx.put(f"{url}/datasets/pairs.jsonl", content=json.dumps(row).encode())
    job = {"jobId": "j", "datasetRef": "pairs.jsonl", "runId": "as-sft", "objective": "sft", "steps": 1}
    assert httpx.post(f"{url}/train", json=job).status_code == 202
    deadline = time.monotonic() + 60
    while (state := httpx.get(f"{url}/status/as-sft").json())["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    assert state["status"] == "failed" and "objective sft does not fit dataset 'pairs.jsonl'" in state["error"]
