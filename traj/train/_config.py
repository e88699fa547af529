"""What a training run is told and what it reports: the config, the examples, the step metrics.

Shared by the torch trainer (:mod:`traj.train.sdft`), the MLX trainer and the job that records
both, so neither trainer imports the other's module.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from traj.train._divergence import Divergence

__all__ = ["Objective", "SdftConfig", "StepMetrics", "TrainingExample", "batches"]

Objective = Literal["sdft", "sft", "dpo"]
_ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class SdftConfig:
    """Every setting of a training run; recorded whole in ``train.started``."""

    objective: Objective = "sdft"
    rank: int = 16
    lora_alpha: float = 32.0
    target_modules: tuple[str, ...] = _ALL_LINEAR
    learning_rate: float = 1e-5
    epochs: int = 2
    max_steps: int | None = None
    batch_size: int = 4
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_alpha: float = 0.02
    """0.02 by default; with 5-10 demonstrations use 0.1-0.3 so the teacher keeps up."""
    teacher_rank: int | None = None
    """Rank of the teacher's EMA delta (default 2 x rank)."""
    divergence: Divergence = "reverse"
    jsd_beta: float = 0.5
    mask_first_tokens: int = 3
    rollouts_per_prompt: int = 1
    max_new_tokens: int = 48
    temperature: float = 1.0
    seed: int = 0
    dpo_beta: float = 0.1
    """DPO only: how far the policy may move from the base model (the KL penalty's weight)."""
    checkpoint_every: int = 50
    """Write a resumable checkpoint every this many steps (0: never)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, recorded: dict[str, Any]) -> SdftConfig:
        """The config a ``train.started`` recorded (its other keys, such as ``steps``, ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in known}
        return cls(**values)


@dataclass(frozen=True)
class TrainingExample:
    """One decision to learn: the student's prompt, the teacher's, and the demonstrated action."""

    query: str
    teacher_query: str
    target: str
    action_id: str = ""
    demo_id: str = ""
    enriched: bool = False
    rejected: str = ""
    """DPO only: the judged action, with ``target`` the corrected one."""


@dataclass(frozen=True)
class StepMetrics:
    """What one optimizer step measured (the fields of ``train.step``)."""

    step: int
    loss: float
    kl: float
    grad_norm: float
    lr: float
    tokens_per_s: float
    teacher_drift: float
    ema_truncation: float = 0.0
    response_tokens: int = 0
    margin: float | None = None
    """DPO only: the mean reward margin of chosen over rejected (rises as preferences are learned)."""


def batches(examples: Sequence[TrainingExample], config: SdftConfig) -> list[list[TrainingExample]]:
    """The step batches of a run: ``epochs`` shuffled passes (seeded), cut at ``max_steps``."""
    rng = random.Random(config.seed)
    out: list[list[TrainingExample]] = []
    for _ in range(config.epochs):
        order = list(examples)
        rng.shuffle(order)
        out += [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    if config.max_steps is not None:
        while out and len(out) < config.max_steps:
            out += out[: config.max_steps - len(out)]
        out = out[: config.max_steps]
    return out
