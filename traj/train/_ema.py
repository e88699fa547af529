"""The EMA teacher of a LoRA student, done on the product ``B A`` rather than on A and B apart.

An EMA of A and of B separately is not an EMA of the weight delta they make (the product of
averages is not the average of products), so the teacher would drift somewhere the student
never was. Here the teacher keeps its own low-rank delta ``U V`` per module, and each update is

    U V  <-  (1 - alpha) U V + alpha * scale * B A

computed exactly on stacked factors (rank R + r) and brought back to the teacher's rank R by a
thin SVD of an (R + r) x (R + r) core: no full out x in matrix is ever formed. With R at least
the rank the deltas span (R = 2r is the default) nothing is lost; otherwise the relative
Frobenius error of the truncation is returned, so the trainer can log it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["ema_update_lowrank"]


def ema_update_lowrank(
    teacher_u: torch.Tensor,
    teacher_v: torch.Tensor,
    student_b: torch.Tensor,
    student_a: torch.Tensor,
    *,
    alpha: float,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One EMA step of a teacher delta ``U V`` (out x R, R x in) towards ``scale * B A``.

    Returns the new ``(U, V)`` of the same shapes and the relative truncation error.
    """
    import torch

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"EMA alpha must be in [0, 1], got {alpha}")
    rank = teacher_u.shape[1]
    dtype = teacher_u.dtype
    with torch.no_grad():
        left = torch.cat(
            [math.sqrt(1 - alpha) * teacher_u.double(), math.sqrt(alpha * abs(scale)) * student_b.double()], 1
        )
        sign = 1.0 if scale >= 0 else -1.0
        right = torch.cat(
            [math.sqrt(1 - alpha) * teacher_v.double(), sign * math.sqrt(alpha * abs(scale)) * student_a.double()], 0
        )
        q_left, r_left = torch.linalg.qr(left)
        q_right, r_right = torch.linalg.qr(right.T)
        core_u, singular, core_vh = torch.linalg.svd(r_left @ r_right.T)
        root = singular[:rank].sqrt()
        new_u = (q_left @ core_u[:, :rank]) * root
        new_v = root.unsqueeze(1) * (core_vh[:rank] @ q_right.T)
        total = singular.square().sum()
        error = float((singular[rank:].square().sum() / total).sqrt()) if total > 0 else 0.0
    return new_u.to(dtype), new_v.to(dtype), error
