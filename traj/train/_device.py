"""Where a training run computes and in what precision: ``device`` and ``dtype`` resolved once.

``auto`` means the machine's accelerator when it has one: the CUDA device of this process
(``LOCAL_RANK`` under ``torchrun``), else the CPU, and bfloat16 where the GPU supports it, else
float32 (fp16 is only taken when asked for: it needs loss scaling). A device that was asked
for but is not there is an error, never a silent fall back to the CPU: a job that was meant
for a GPU would otherwise run for days on the host.

The base weights take the chosen dtype; the LoRA factors, the EMA teacher's factors, the
optimizer state and the logits of the divergence stay float32 (mixed precision).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from traj.errors import TrainingError

if TYPE_CHECKING:
    import torch

__all__ = ["DTYPES", "DtypeName", "Placement", "check_device_name", "peak_memory_bytes", "resolve_placement"]

DtypeName = Literal["auto", "bfloat16", "float16", "float32"]
DTYPES: tuple[str, ...] = get_args(DtypeName)
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass(frozen=True)
class Placement:
    """The resolved device and base-weight dtype of a run."""

    device: torch.device
    dtype: torch.dtype

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def on_cpu(self) -> bool:
        return self.device.type == "cpu"


def check_device_name(device: str, dtype: str) -> None:
    """Refuse a device or dtype name no run could take (checked before anything loads)."""
    if not _DEVICE.fullmatch(device):
        raise TrainingError(f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps")
    if dtype not in DTYPES:
        raise TrainingError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")


def resolve_placement(device: str = "auto", dtype: str = "auto") -> Placement:
    """The device and dtype a run uses for ``device`` and ``dtype`` as a person names them.

    Raises :class:`TrainingError` when the named device is missing or cannot hold the dtype.
    """
    import torch

    check_device_name(device, dtype)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif device == "cuda":
        device = f"cuda:{local_rank}"
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError(
                f"device {device} is not available: this torch ({torch.__version__}) sees no CUDA device; "
                "use --device cpu or auto"
            )
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise TrainingError(f"device {device} is not available: {torch.cuda.device_count()} CUDA device(s) here")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise TrainingError("device mps is not available on this machine (Apple silicon with torch's MPS backend)")
    if dtype == "auto":
        bf16 = resolved.type == "cuda" and torch.cuda.is_bf16_supported()
        chosen = torch.bfloat16 if bf16 else torch.float32
    else:
        chosen = getattr(torch, dtype)
    if chosen == torch.bfloat16 and resolved.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainingError(f"{device} does not support bfloat16; use --dtype float16 or float32")
    return Placement(resolved, chosen)


def peak_memory_bytes(device: torch.device) -> int:
    """The most memory this process has held on ``device``: allocated GPU memory on CUDA,
    the process's peak resident set on the CPU (it holds the model there)."""
    import torch

    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    if device.type == "mps":
        return int(torch.mps.driver_allocated_memory())
    import resource
    import sys

    unit = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux kilobytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * unit
