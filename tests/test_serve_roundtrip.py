"""The product's remote round trip, with real processes on 127.0.0.1.

Record the expense site's demonstration in Chromium and replay it (the laptop), start
``traj serve --backend mlx`` (training with torch) as its own process (the GPU box), run ``traj train --remote`` as
another process, and hot-swap the downloaded adapter into an MLX policy that was already
loaded: the agent's next-token distribution on the demo's first observation changes, and its
answer equals what the server answers with the same adapter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from traj.browser import record
from traj.eventlog import Store
from traj.policy import MlxPolicy
from traj.projections import Projections
from traj.prompt import Prompt
from traj.replay import replay
from traj.sites import SITES, run_script
from traj.train import training_examples

SEED = 5
TOKEN = "round-trip-token"
TOKENS = 24


@pytest.fixture
def server(tmp_path, tiny_model):
    """``traj serve`` in its own process, with a token, on a free loopback port."""
    env = {**os.environ, "TRAJ_TOKEN": TOKEN}
    command = [sys.executable, "-m", "traj", "serve", "--port", "0", "--backend", "mlx", "--model", str(tiny_model)]
    process = subprocess.Popen(
        [*command, "--home", str(tmp_path / "gpu-box")], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()  # blocks until it listens (or dies)
        assert "listening on" in line, f"traj serve did not start: {line!r}"
        yield line.split("listening on ")[1].split()[0]
    finally:
        process.terminate()
        assert process.wait(30) == 0


def test_record_then_train_remote_then_hot_swap_matches_the_server(tmp_path, sites_server, tiny_model, server):
    laptop = tmp_path / "laptop"
    with Store.open(laptop) as store:
        url = SITES["expense"].start_url(sites_server.url, SEED)
        demo = record(
            store,
            url,
            task="expense",
            seed=SEED,
            demonstrator=lambda page: run_script("expense", page, sites_server.url, SEED),
            headless=True,
        )
        assert replay(store, demo.demo_id, headless=True).success is True
        first = Prompt(training_examples(store, demo_ids=[demo.demo_id])[0].query, 0)

    local = MlxPolicy(tiny_model)  # loaded before the adapter exists: what follows is a hot swap
    base = local.logits(first.text)[-1]

    started = time.perf_counter()
    env = {**os.environ, "TRAJ_SERVER_TOKEN": TOKEN}
    options = ["--steps", "2", "--batch-size", "4", "--lr", "5e-3", "--rank", "8", "--ema-alpha", "0.1"]
    command = [sys.executable, "-m", "traj", "train", "--remote", server, "--demo", demo.demo_id]
    trained = subprocess.run(
        [*command, "--name", "expense-remote", *options, "--home", str(laptop)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert trained.returncode == 0, trained.stdout + trained.stderr
    train_seconds = time.perf_counter() - started
    adapter_dir = laptop / "adapters" / "expense-remote"
    assert {"peft", "mlx"} <= {p.name for p in adapter_dir.iterdir()}

    local.load_adapter("expense-remote", adapter_dir / "mlx")
    tuned = local.generate(first, max_new_tokens=TOKENS)
    assert local.base_loads == 1
    # two training steps move the next-token distribution; the greedy action may stay the same
    changed = float(abs(local.logits(first.text)[-1] - base).max())
    assert changed > 1e-2, "the remotely trained adapter did not change the agent's next-token distribution"

    auth = {"Authorization": f"Bearer {TOKEN}"}
    loaded = httpx.post(f"{server}/adapters/expense-remote/load", headers=auth, timeout=60)
    assert loaded.status_code == 200, loaded.text
    body = {"prompt": first.text, "adapter": "expense-remote", "max_new_tokens": TOKENS}
    served = httpx.post(f"{server}/act", json=body, headers=auth, timeout=60).json()
    assert served["text"] == tuned.text

    with Store.open(laptop, readonly=True) as store, Projections(store) as projections:
        lineage = projections.query(
            "SELECT DISTINCT st.stream_id AS demo, t.job_id FROM adapters a JOIN train_runs t USING (job_id), "
            "unnest(CAST(json_extract(t.dataset, '$.event_ids') AS VARCHAR[])) AS u(action_id) "
            "JOIN steps st ON st.action_id = u.action_id WHERE a.name = 'expense-remote'"
        ).to_pylist()
    remote_job = httpx.get(f"{server}/adapters", headers=auth).json()["adapters"][0]["job_id"]
    assert lineage == [{"demo": demo.demo_id, "job_id": remote_job}]  # the local adapter points at the remote run
    print(f"remote train + download + register: {train_seconds:.1f} s")
