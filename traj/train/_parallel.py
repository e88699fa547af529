"""Data-parallel training over the processes ``torchrun`` or ``accelerate launch`` starts.

Each process (rank) holds the whole model, takes its share of every step's batch, samples
its own rollouts and computes its part of the loss; the LoRA gradients are then summed over
the ranks before the optimizer step, so every rank applies the same update and the student
(and therefore the EMA teacher, a deterministic function of it) stays identical everywhere.

This is what ``DistributedDataParallel`` does, done by hand on one flat bucket: DDP's wrapper
expects one forward per backward, and an SDFT step runs the model many times (prefill with
its graph, every decode step, the response forward, the teacher). Summing the gradients
outright, then dividing by the global token count, makes N ranks of ``b`` rows compute exactly
the gradient one process computes on the ``N x b`` rows.

The launchers' environment (``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR`` ...) says whether a run
is distributed; the process group is joined with ``nccl`` on CUDA and ``gloo`` elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import torch

__all__ = ["DataParallel", "join_data_parallel", "launched_processes"]

T = TypeVar("T")


@dataclass(frozen=True)
class DataParallel:
    """This process's place among the ranks of a run (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that appends events and writes the adapter."""
        return self.rank == 0

    def share(self, rows: Sequence[T]) -> list[T]:
        """This rank's rows of a step's batch (every ``world``-th, from ``rank``)."""
        return list(rows[self.rank :: self.world])

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` summed over the ranks, in place."""
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def sum_gradients_(self, parameters: Sequence[torch.Tensor]) -> None:
        """Sum every parameter's gradient over the ranks (a missing gradient counts as zero), in
        one collective over a flat buffer."""
        if self.world == 1:
            return
        import torch

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
        flat = self.sum_(torch.cat([g.reshape(-1) for g in grads]))
        offset = 0
        for parameter, grad in zip(parameters, grads, strict=True):
            parameter.grad = flat[offset : offset + grad.numel()].view_as(grad)
            offset += grad.numel()

    def broadcast_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Give every rank rank 0's values of ``tensors`` (in place)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        for tensor in tensors:
            dist.broadcast(tensor.data, src=0)

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()


def launched_processes() -> int:
    """How many data-parallel processes the launcher started (1 without a launcher)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def join_data_parallel(device: torch.device) -> DataParallel:
    """This process's :class:`DataParallel`, joining the launcher's process group if needed."""
    if launched_processes() == 1:
        return DataParallel()
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return DataParallel(dist.get_rank(), dist.get_world_size())
