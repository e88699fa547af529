"""One rank of the data-parallel test: trains through :func:`traj.train.train` under ``torchrun``.

Usage: ``torchrun --nproc-per-node N parallel_trainer.py MODEL_DIR HOME BATCH_SIZE STEPS OUT_DIR``

Every rank calls ``train`` with the same examples and config (rank 0 opens the store for
writing, the others read-only, as ``traj train`` does under a launcher), then writes
``OUT_DIR/rank<r>.json`` with what its steps measured, so the test can see that every rank
made the same updates and kept the same EMA teacher.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from traj.eventlog import Store
from traj.train import SdftConfig, TrainingExample, train

EXAMPLES = [
    TrainingExample(
        query=f"Goal: open item {i}\nPage: {' '.join(f'[{j}] link Item {j}' for j in range(i))}\nNext action:",
        teacher_query=f"Demonstration: CLICK {i}\nGoal: open item {i}\nNext action:",
        target=f'{{"kind":"CLICK","target":"{i}","value":null}}',
        action_id=f"action-{i}",
    )
    for i in range(1, 9)
]


def config(batch_size: int, steps: int) -> SdftConfig:
    """The run's settings: greedy rollouts, so every layout of the batch samples the same tokens."""
    return SdftConfig(
        rank=4,
        lora_alpha=8,
        learning_rate=5e-3,
        max_new_tokens=8,
        mask_first_tokens=1,
        temperature=0.0,
        ema_alpha=0.25,
        batch_size=batch_size,
        max_steps=steps,
        checkpoint_every=0,
        device="cpu",
    )


def main() -> None:
    model_dir, home, batch_size, steps, out = sys.argv[1:6]
    rank = int(os.environ.get("RANK", "0"))
    store = Store.open(home, readonly=rank != 0)
    try:
        result = train(store, EXAMPLES, model_dir=model_dir, config=config(int(batch_size), int(steps)), name="dp")
    finally:
        store.close()
    measured = {
        "losses": [s.loss for s in result.steps],
        "drifts": [s.teacher_drift for s in result.steps],
        "tokens": [s.response_tokens for s in result.steps],
    }
    Path(out, f"rank{rank}.json").write_text(json.dumps(measured))


if __name__ == "__main__":
    main()
