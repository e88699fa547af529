"""The tiny model's optimizer loop, checkpointed so a long CPU pretraining survives being killed.

Pretraining takes from minutes to hours on 2 cores. Every ``checkpoint_seconds`` the loop
writes its whole state (weights, AdamW moments, schedule, step, tokens seen, torch RNG) to one
file, atomically; a run started again with the same batches goes on from the last checkpoint
and ends with the weights an uninterrupted run would have (the batches are a deterministic
function of the seed, so only the state above needs saving).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Schedule", "optimize"]


@dataclass(frozen=True)
class Schedule:
    """AdamW with linear warmup to ``lr`` and a cosine decay to a tenth of it over ``steps``."""

    steps: int
    lr: float
    warmup: float

    def factor(self, step: int) -> float:
        warmup = max(1, int(self.steps * self.warmup))
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, self.steps))))
        return min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * cosine)


def optimize(
    model: Any,
    batches: Iterable[tuple[Any, Any]],
    schedule: Schedule,
    *,
    autocast: bool,
    device: Any = "cpu",
    checkpoint: Path,
    checkpoint_seconds: float = 300.0,
    stop_after: int | None = None,
    advance: Callable[[float], None] = lambda loss: None,
) -> tuple[int, float]:
    """Train ``model`` on ``device`` with the first ``schedule.steps`` of ``batches`` (weighted
    next-token loss); returns (tokens seen, last loss).

    Resumes from ``checkpoint`` when it exists, skipping the batches it had trained on.
    ``stop_after`` ends the run after that many steps with a checkpoint written (a pause to
    resume later); the caller must not treat the model as finished then.
    """
    import torch

    device = torch.device(device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.lr, weight_decay=0.01, betas=(0.9, 0.98))
    lr_schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule.factor)
    start, tokens, loss_value = 0, 0, float("nan")
    if checkpoint.is_file():
        state = torch.load(checkpoint, weights_only=False, map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        lr_schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["rng"].cpu())
        start, tokens, loss_value = state["step"], state["tokens"], state["loss"]
        for _ in range(start):
            advance(loss_value)
    model.train()
    saved = time.monotonic()
    for step, (made_ids, made_weights) in enumerate(itertools.islice(batches, start, schedule.steps), start=start):
        ids, weights = made_ids.to(device, non_blocking=True), made_weights.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=ids).logits[:, :-1]
        losses = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        ).view(ids.shape[0], -1)
        weight = weights[:, 1:]
        loss = (losses * weight).sum() / weight.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        lr_schedule.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(ids.numel())
        loss_value = loss.item()
        advance(loss_value)
        done = step + 1
        if done == stop_after or (time.monotonic() - saved >= checkpoint_seconds and done < schedule.steps):
            _save(checkpoint, model, optimizer, lr_schedule, done, tokens, loss_value)
            saved = time.monotonic()
            if done == stop_after:
                break
    model.eval()
    return tokens, loss_value


def _save(path: Path, model: Any, optimizer: Any, schedule: Any, step: int, tokens: int, loss: float) -> None:
    """Write the loop's state to ``path`` atomically: a kill mid-write leaves the previous checkpoint."""
    import torch

    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "rng": torch.get_rng_state(),
        "step": step,
        "tokens": tokens,
        "loss": loss,
    }
    scratch = path.with_name(path.name + ".tmp")
    torch.save(state, scratch)
    with open(scratch, "rb") as handle:
        os.fsync(handle.fileno())
    scratch.replace(path)
