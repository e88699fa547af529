"""Data-parallel training under ``torchrun`` (gloo on the CPU): two ranks of batch b make the
adapter one process makes with batch 2b, keep identical EMA teachers, and only rank 0 records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from parallel_trainer import EXAMPLES, config  # tests/ is on sys.path (pytest's rootdir-less import mode)
from safetensors.torch import load_file

from traj.eventlog import Store
from traj.train import train

STEPS = 3


def test_two_ranks_make_the_adapter_of_one_process_with_the_doubled_batch_and_only_rank_0_records(tmp_path, model_dir):
    single_home = tmp_path / "single"
    with Store.open(single_home) as store:
        single = train(store, EXAMPLES, model_dir=model_dir, config=config(4, STEPS), name="dp")

    parallel_home, out = tmp_path / "parallel", tmp_path / "ranks"
    out.mkdir()
    Store.open(parallel_home).close()
    script = Path(__file__).with_name("parallel_trainer.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += [str(script), str(model_dir), str(parallel_home), "2", str(STEPS), str(out)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]

    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1]  # the same global loss, and the same teacher move, on every rank
    assert ranks[0]["tokens"] == [s.response_tokens for s in single.steps]
    for got, expected in zip(ranks[0]["losses"], [s.loss for s in single.steps], strict=True):
        assert abs(got - expected) <= 1e-4 * max(1.0, abs(expected))

    with Store.open(parallel_home, readonly=True) as store:
        types = [e.type for e in store.events()]
    assert types.count("train.started") == 1 and types.count("train.finished") == 1
    assert types.count("train.step") == STEPS and types.count("adapter.created") == 2
    expected = load_file(single.peft_path / "adapter_model.safetensors")
    got = load_file(parallel_home / "adapters" / "dp" / "peft" / "adapter_model.safetensors")
    assert got.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.allclose(got[name], tensor, atol=1e-4), name  # 2% of one step at lr 5e-3
