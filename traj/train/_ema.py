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
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["ema_update_lowrank", "ema_update_modules"]


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

    Returns the new ``(U, V)`` of the same shapes and the relative truncation error. Leading
    dimensions are a batch of modules of one shape (the error is then the largest of them).
    Computed in the factors' precision (float32 at least): the update is exact up to its rounding.
    """
    import torch

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"EMA alpha must be in [0, 1], got {alpha}")
    rank = teacher_u.shape[-1]
    dtype = teacher_u.dtype
    work = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    with torch.no_grad():
        keep, add = math.sqrt(1 - alpha), math.sqrt(alpha * abs(scale))
        sign = 1.0 if scale >= 0 else -1.0
        left = torch.cat([keep * teacher_u.to(work), add * student_b.to(work)], -1)
        right = torch.cat([keep * teacher_v.to(work), sign * add * student_a.to(work)], -2)
        q_left, r_left = torch.linalg.qr(left)
        q_right, r_right = torch.linalg.qr(right.mT)
        core_u, singular, core_vh = torch.linalg.svd(r_left @ r_right.mT)
        root = singular[..., :rank].sqrt()
        new_u = (q_left @ core_u[..., :rank]) * root.unsqueeze(-2)
        new_v = root.unsqueeze(-1) * (core_vh[..., :rank, :] @ q_right.mT)
        total = singular.square().sum(-1)
        lost = singular[..., rank:].square().sum(-1)
        errors = torch.where(total > 0, (lost / total.clamp(min=1e-300)).sqrt(), torch.zeros_like(total))
    return new_u.to(dtype), new_v.to(dtype), float(errors.max())


def ema_update_modules(
    teachers: Sequence[tuple[torch.Tensor, torch.Tensor]],
    students: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    alpha: float,
    scale: float,
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], float, float]:
    """:func:`ema_update_lowrank` for every adapted module of a model at once.

    ``teachers`` are ``(U, V)`` and ``students`` ``(B, A)`` per module, in one order. Modules of
    one shape go through one batched update (a model has a handful of shapes and dozens of
    modules). Returns the new ``(U, V)`` per module, the Frobenius norm of the whole teacher's
    move (computed on the factors, without forming any out x in matrix) and the largest
    truncation error.
    """
    import torch

    groups: dict[tuple[tuple[int, ...], ...], list[int]] = {}
    for index, ((u, v), (b, a)) in enumerate(zip(teachers, students, strict=True)):
        groups.setdefault((tuple(u.shape), tuple(v.shape), tuple(b.shape), tuple(a.shape)), []).append(index)
    updated: list[tuple[torch.Tensor, torch.Tensor]] = [teachers[0]] * len(teachers)
    moved, worst = 0.0, 0.0
    for members in groups.values():
        old_u = torch.stack([teachers[i][0] for i in members])
        old_v = torch.stack([teachers[i][1] for i in members])
        new_u, new_v, error = ema_update_lowrank(
            old_u,
            old_v,
            torch.stack([students[i][0] for i in members]),
            torch.stack([students[i][1] for i in members]),
            alpha=alpha,
            scale=scale,
        )
        moved += _product_difference_sq(new_u, new_v, old_u, old_v)
        worst = max(worst, error)
        for k, i in enumerate(members):
            updated[i] = (new_u[k], new_v[k])
    return updated, math.sqrt(moved), worst


def _product_difference_sq(u1: torch.Tensor, v1: torch.Tensor, u0: torch.Tensor, v0: torch.Tensor) -> float:
    """``sum ||U1 V1 - U0 V0||_F^2`` over a batch: the move is ``[U1, -U0] [V1; V0]``, and
    ``||L R||_F^2`` is the sum of ``(L^T L) * (R R^T)`` (two small square matrices)."""
    import torch

    wide = torch.float32 if u1.device.type == "mps" else torch.float64  # MPS has no float64
    left = torch.cat([u1.to(wide), -u0.to(wide)], -1)
    right = torch.cat([v1.to(wide), v0.to(wide)], -2)
    return float(((left.mT @ left) * (right @ right.mT)).sum())
