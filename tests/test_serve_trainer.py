"""The local-trainer contract: PUT a JSONL dataset, POST /train {jobId, datasetRef, runId}, poll /status/{runId}."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tests.test_policy_remote import EchoPolicy
from traj.eventlog import Store
from traj.policy import TransformersPolicy
from traj.serve import create_app, serve_in_thread

ROWS = [
    {"prompt": f"Goal: open item {i}\nNext action:", "target": json.dumps({"kind": "CLICK", "target": f"e{i}"})}
    for i in range(4)
]


@pytest.fixture
def trainer(tmp_path, tiny_model):
    store = Store.open(tmp_path / "server")
    app = create_app(EchoPolicy(), store=store, model_dir=tiny_model)
    with serve_in_thread(app) as url:
        yield url
    store.close()


def _poll(url: str, run_id: str, seen: list[str], timeout_s: float = 240) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = httpx.get(f"{url}/status/{run_id}").json()
        if not seen or seen[-1] != state["status"]:
            seen.append(state["status"])
        if state["status"] in ("completed", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish in {timeout_s} s: {state}")


def test_jsonl_dataset_trains_to_an_output_model_that_loads(trainer, tiny_model):
    url = trainer
    data = "\n".join(json.dumps(row) for row in ROWS).encode()
    assert httpx.put(f"{url}/datasets/clicks.jsonl", content=data).json()["rows"] == 4
    job = {"jobId": "platform-job-1", "datasetRef": "clicks.jsonl", "runId": "run-1", "steps": 2, "batch_size": 2}
    first = httpx.post(f"{url}/train", json=job)
    second = httpx.post(f"{url}/train", json={**job, "runId": "run-2", "learning_rate": 1e-2})
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.headers["location"] == "/status/run-1"
    assert httpx.post(f"{url}/train", json=job).status_code == 409  # the run id is taken
    assert httpx.get(f"{url}/status/run-2").json()["status"] == "pending"  # one job at a time, the rest queue

    seen: list[str] = []
    done = _poll(url, "run-2", seen)
    assert done["status"] == "completed", done
    assert seen[0] == "pending" and seen[-2:] == ["running", "completed"]
    assert (done["job_id"], done["steps_done"], done["objective"]) == ("platform-job-1", 2, "sft")

    policy = TransformersPolicy(tiny_model)
    before = policy.logits(ROWS[0]["prompt"])[-1]
    policy.load_adapter("run-2", done["output_model_ref"])
    after = policy.logits(ROWS[0]["prompt"])[-1]
    assert float((after - before).abs().max()) > 1e-3


def test_a_bad_dataset_ends_failed_with_the_error(trainer):
    url = trainer
    httpx.put(f"{url}/datasets/bad.jsonl", content=b'{"prompt": "only a prompt"}\n')
    assert httpx.post(f"{url}/train", json={"jobId": "j", "datasetRef": "bad.jsonl", "runId": "bad"}).status_code == 202
    state = _poll(url, "bad", [])
    assert state["status"] == "failed" and "needs string fields prompt and target" in state["error"]


def test_the_server_trains_where_its_compute_settings_say_and_reports_it(tmp_path, model_dir):
    from traj.train import ComputeSettings

    store = Store.open(tmp_path / "server")
    compute = ComputeSettings(device="cpu", dtype="bfloat16", micro_batch_size=1)
    app = create_app(EchoPolicy(), store=store, model_dir=model_dir, train_compute=compute)
    with serve_in_thread(app) as url:
        training = httpx.get(f"{url}/health").json()["training"]
        assert (training["backend"], training["device"], training["dtype"]) == ("torch", "cpu", "bfloat16")
        assert training["peak_memory_bytes"] is None  # nothing trained yet
        httpx.put(f"{url}/datasets/clicks.jsonl", content="\n".join(json.dumps(row) for row in ROWS).encode())
        job = {"jobId": "job", "datasetRef": "clicks.jsonl", "runId": "bf16", "steps": 1, "batch_size": 2}
        assert httpx.post(f"{url}/train", json=job).status_code == 202
        done = _poll(url, "bf16", [])
        assert done["status"] == "completed", done
        assert (done["device"], done["dtype"]) == ("cpu", "bfloat16") and done["peak_memory_bytes"] > 0
        assert httpx.get(f"{url}/health").json()["training"]["peak_memory_bytes"] == done["peak_memory_bytes"]
    [started] = [e.data for e in store.events(types=["train.started"])]
    assert started.config["placement"]["dtype"] == "bfloat16" and started.config["micro_batch_size"] == 1
    store.close()
