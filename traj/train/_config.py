"""What a training run is told and what it reports: the config, the examples, the step metrics.

Shared by the torch trainer (:mod:`traj.train.sdft`), the MLX trainer and the job that records
both, so neither trainer imports the other's module.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from traj.errors import TrainingError
from traj.train._device import DtypeName, check_device_name
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
    """Rows per step on each process (under ``torchrun`` a step takes ``batch_size`` x processes rows)."""
    micro_batch_size: int | None = None
    """Rows per forward and backward; a step accumulates the gradients of its micro-batches and
    makes the update the whole batch makes (default: the whole batch at once)."""
    warmup_ratio: float = 0.1
    grad_clip: float = 1.0
    ema_alpha: float = 0.02
    """0.02 by default; with 5-10 demonstrations use 0.1-0.3 so the teacher keeps up."""
    teacher_rank: int | None = None
    """Rank of the teacher's EMA delta (default 2 x rank)."""
    divergence: Divergence = "forward"
    """Forward KL(teacher || student) by default: its gradient on a token's logit is ``p_s - p_t``,
    so a student sure of the wrong action is pulled hard to the teacher's; the reverse KL's is
    ``p_s (log p_s - log p_t - KL)``, which vanishes on the tokens a confident student does not
    sample. Measured (tiny model, one price demonstration, 60 steps): student next-action accuracy
    on unseen seeds 65-70% with the reverse KL, 95% with the forward (SFT: 95%)."""
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
    teacher_layout: Literal["rules", "appended"] = "rules"
    """Where the teacher's prompt holds the demonstration (:data:`traj.datasets.TEACHER_LAYOUTS`;
    ``appended`` is TRL's SDFT teacher). Recorded, so a resumed job rebuilds the same prompts."""
    device: str = "auto"
    """auto, cpu, cuda, cuda:N or mps; auto takes this process's CUDA device when there is one."""
    dtype: DtypeName = "auto"
    """The base weights' dtype (auto: bfloat16 on a GPU that has it, else float32); the LoRA
    factors, the teacher, the optimizer state and the divergence stay float32."""
    gradient_checkpointing: bool = False
    """Recompute each layer's activations in the backward instead of keeping them: a large base
    fits, at about a third more compute (the student then scores its rollouts in one forward)."""
    quantize: Literal["4bit"] | None = None
    """Load the base in 4 bits through bitsandbytes (QLoRA); CUDA only."""
    constrain: bool = True
    """SDFT: draw the student's rollouts under the page's action constraint, as the agent decodes
    (each example's ``schema``), and take the divergence over the tokens it allowed, renormalised."""

    def __post_init__(self) -> None:
        check_device_name(self.device, self.dtype)
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise TrainingError(f"micro_batch_size must be at least 1, got {self.micro_batch_size}")
        if self.quantize not in (None, "4bit"):
            raise TrainingError(f"unknown quantization {self.quantize!r}; use 4bit")

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, recorded: dict[str, Any]) -> SdftConfig:
        """The config a ``train.started`` recorded (its other keys, such as ``steps``, ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items() if k in known}
        values.setdefault("constrain", False)  # recorded before the setting existed: rollouts were free
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
    schema: str = ""
    """The JSON schema of the actions valid on the page (``SdftItem.schema``); empty: no constraint."""


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
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds per phase of the step (rollout, student, teacher, loss, backward, optimizer, ema)."""
    peak_memory_bytes: int = 0
    """The most memory the process has held on its device so far (GPU allocations, or CPU RSS)."""


def batches(
    examples: Sequence[TrainingExample], config: SdftConfig, *, processes: int = 1
) -> list[list[TrainingExample]]:
    """The step batches of a run: ``epochs`` shuffled passes (seeded), cut at ``max_steps``.

    A step's batch holds ``batch_size`` rows for each of ``processes`` data-parallel ranks, so
    N processes of batch ``b`` plan the steps one process of batch ``N x b`` plans."""
    rng = random.Random(config.seed)
    size = config.batch_size * processes
    out: list[list[TrainingExample]] = []
    for _ in range(config.epochs):
        order = list(examples)
        rng.shuffle(order)
        out += [order[i : i + size] for i in range(0, len(order), size)]
    if config.max_steps is not None:
        while out and len(out) < config.max_steps:
            out += out[: config.max_steps - len(out)]
        out = out[: config.max_steps]
    return out
