"""The options that say where a command trains: ``--device``, ``--dtype`` and the memory knobs.

``traj train``, ``traj specialists run`` and ``traj serve`` take the same five options and turn
them into one :class:`traj.train.ComputeSettings`; the library checks the values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from traj.train import ComputeSettings

__all__ = ["CheckpointingOption", "DeviceOption", "DtypeOption", "MicroBatchOption", "QuantizeOption", "compute"]

DeviceOption = Annotated[
    str, typer.Option(help="auto, cpu, cuda, cuda:N or mps (auto: this process's GPU when there is one).")
]
DtypeOption = Annotated[
    str,
    typer.Option(help="Base weights: auto (bfloat16 on a GPU that has it, else float32), bfloat16, float16, float32."),
]
CheckpointingOption = Annotated[
    bool,
    typer.Option(
        "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Recompute activations in the backward: a large base fits, at about a third more compute.",
    ),
]
MicroBatchOption = Annotated[
    int | None,
    typer.Option(min=1, help="Rows per forward/backward; gradients accumulate to the whole batch's update."),
]
QuantizeOption = Annotated[
    str | None, typer.Option(help="4bit: load the base in 4 bits (QLoRA; needs CUDA and bitsandbytes).")
]


def compute(
    device: str, dtype: str, gradient_checkpointing: bool, micro_batch_size: int | None, quantize: str | None
) -> ComputeSettings:
    """The options as :class:`traj.train.ComputeSettings` (a bad value is one ``error:`` line)."""
    import msgspec

    from traj.errors import TrainingError
    from traj.train import ComputeSettings, SdftConfig

    values = {
        "device": device,
        "dtype": dtype,
        "gradient_checkpointing": gradient_checkpointing,
        "micro_batch_size": micro_batch_size,
        "quantize": quantize,
    }
    try:
        settings = msgspec.convert(values, ComputeSettings)
    except msgspec.ValidationError as exc:
        raise TrainingError(f"{exc} (see --help)") from None
    SdftConfig(**values)  # device names and the rest, checked as a run would check them
    return settings
