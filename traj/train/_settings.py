"""The training knobs a person sets, and the one mapping from them to the trainer's config.

``traj train``, the server's ``POST /train`` and improvement jobs all take these settings and
call :func:`train_config`, so a knob means the same everywhere: ``steps`` is ``max_steps``,
``beta`` is ``dpo_beta``, LoRA alpha is twice the rank, and an unset knob keeps
:class:`~traj.train.SdftConfig`'s default.

Where the run computes (:class:`ComputeSettings`: device, dtype, gradient checkpointing,
micro-batches, a 4-bit base) belongs to the machine, not to the recipe: ``traj train``,
``traj specialists run`` and ``traj serve`` take it from their own options, and a request or a
job spec never carries it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from traj.train._config import Objective, SdftConfig

__all__ = ["ComputeSettings", "TrainSettings", "checked_settings", "train_config"]

_Positive = Annotated[int, msgspec.Meta(ge=1)]
_Rate = Annotated[float, msgspec.Meta(gt=0)]


class TrainSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A run's training settings; unset ones take ``traj train``'s defaults (checked when decoded)."""

    steps: _Positive | None = None
    """Optimizer steps (overrides ``epochs``)."""
    epochs: _Positive | None = None
    batch_size: _Positive | None = None
    learning_rate: _Rate | None = None
    rank: _Positive | None = None
    """LoRA rank; LoRA alpha is twice it."""
    ema_alpha: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    divergence: Literal["reverse", "forward", "jsd"] | None = None
    beta: _Rate | None = None
    """DPO: how far the adapter may move from the base model."""
    teacher_layout: Literal["rules", "appended"] | None = None
    """SDFT: the demonstration after the rules (traj's) or after the whole prompt (TRL's)."""
    constrain: bool | None = None
    """SDFT: rollouts under the page's action constraint, as the agent decodes (default on)."""


class ComputeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where and how a machine trains: ``SdftConfig``'s device, dtype and memory knobs."""

    device: str = "auto"
    """auto, cpu, cuda, cuda:N or mps."""
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    gradient_checkpointing: bool = False
    micro_batch_size: _Positive | None = None
    quantize: Literal["4bit"] | None = None


def checked_settings(**values: object) -> TrainSettings:
    """``TrainSettings(**values)`` with every bound checked (a constructor does not check them).

    ``traj train --steps 0`` or ``--lr -1`` is then refused before a job or adapter is written,
    as ``POST /train`` refuses them when it decodes the request.
    """
    from traj.errors import TrainingError

    given = {k: v for k, v in values.items() if v is not None}
    try:
        return msgspec.convert(given, TrainSettings)
    except msgspec.ValidationError as exc:
        expected, _, where = str(exc).partition(" - at `$.")  # "Expected `int` >= 1 - at `$.steps`"
        field = where.rstrip("`")
        option = "--lr" if field == "learning_rate" else f"--{field.replace('_', '-')}"
        raise TrainingError(f"{option} {values.get(field)!r}: {expected.lower()}") from None


def train_config(
    settings: TrainSettings,
    objective: Objective = "sdft",
    *,
    checkpoint_every: int | None = None,
    compute: ComputeSettings | None = None,
) -> SdftConfig:
    """The trainer's config for ``settings`` and ``objective`` on ``compute`` (default: auto)
    (``checkpoint_every`` where given)."""
    given = {
        "rank": settings.rank,
        "lora_alpha": None if settings.rank is None else 2.0 * settings.rank,
        "learning_rate": settings.learning_rate,
        "epochs": settings.epochs,
        "max_steps": settings.steps,
        "batch_size": settings.batch_size,
        "ema_alpha": settings.ema_alpha,
        "divergence": settings.divergence,
        "dpo_beta": settings.beta,
        "teacher_layout": settings.teacher_layout,
        "constrain": settings.constrain,
        "checkpoint_every": checkpoint_every,
    }
    placed = msgspec.structs.asdict(compute or ComputeSettings())
    return SdftConfig(objective=objective, **{k: v for k, v in given.items() if v is not None}, **placed)
