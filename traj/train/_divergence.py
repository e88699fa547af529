"""Per-token divergences between the student's and the teacher's next-token distributions.

SDFT's paper derives the reverse KL but ran its published results with the forward KL, so the
divergence is a setting. Every one is analytic over the full vocabulary, per response token,
then averaged over the tokens the mask keeps (the first ``k`` response tokens and padding are
masked out and get exactly zero gradient):

- ``reverse``: KL(student || teacher) = sum_v p_s (log p_s - log p_t), mode-seeking.
- ``forward``: KL(teacher || student) = sum_v p_t (log p_t - log p_s), mass-covering.
- ``jsd``: the generalised Jensen-Shannon divergence of TRL's GKD, with ``beta`` in [0, 1]:
  M = beta p_t + (1 - beta) p_s, JSD = beta KL(p_t || M) + (1 - beta) KL(p_s || M);
  ``beta = 0`` is the forward KL and ``beta = 1`` the reverse KL, as in TRL.

Under a constraint (``allowed``: the tokens the rollout was drawn from at each position) both
distributions are renormalised over the allowed tokens before the divergence: the student's is
then exactly the distribution its constrained rollout sampled, the teacher's is what the teacher
would do under the same constraint, and a position where the constraint leaves one token (JSON
punctuation, a forced key) has divergence 0 instead of a gradient toward tokens no decoder can pick.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    import torch

__all__ = ["DIVERGENCES", "Divergence", "masked_mean", "per_token_divergence", "response_mask"]

Divergence = Literal["reverse", "forward", "jsd"]
DIVERGENCES: tuple[str, ...] = get_args(Divergence)


_EXCLUDED = -1e30
"""The logit a token outside the allowed support gets: its probability is exactly 0 after the
softmax, and (unlike -inf) ``0 * (log p - log q)`` stays 0 and its gradient finite."""


def per_token_divergence(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    divergence: Divergence = "reverse",
    beta: float = 0.5,
    allowed: torch.Tensor | None = None,
) -> torch.Tensor:
    """``(..., V)`` logits -> ``(...)`` divergence per token (the teacher is not detached here);
    with ``allowed`` (``(..., V)`` bool), over the allowed tokens only, both sides renormalised."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    if divergence not in DIVERGENCES:
        raise ValueError(f"unknown divergence {divergence!r}; use one of {', '.join(DIVERGENCES)}")
    student_logits, teacher_logits = student_logits.float(), teacher_logits.float()
    if allowed is not None:
        student_logits = student_logits.masked_fill(~allowed, _EXCLUDED)
        teacher_logits = teacher_logits.masked_fill(~allowed, _EXCLUDED)
    student = F.log_softmax(student_logits, dim=-1)
    teacher = F.log_softmax(teacher_logits, dim=-1)
    if divergence == "reverse" or (divergence == "jsd" and beta == 1.0):
        return _kl(student, teacher)
    if divergence == "forward" or beta == 0.0:
        return _kl(teacher, student)
    if not 0.0 < beta < 1.0:
        raise ValueError(f"jsd beta must be in [0, 1], got {beta}")
    mixture = torch.logsumexp(torch.stack([teacher + math.log(beta), student + math.log(1 - beta)]), dim=0)
    return beta * _kl(teacher, mixture) + (1 - beta) * _kl(student, mixture)


def _kl(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) over the last axis from log probabilities."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)


def response_mask(response_lengths: torch.Tensor, max_length: int, skip_first: int = 3) -> torch.Tensor:
    """``(B, T)`` float mask over response tokens: 1 for trained positions, 0 for the first
    ``skip_first`` tokens of each response and for padding after its length."""
    import torch

    positions = torch.arange(max_length, device=response_lengths.device).unsqueeze(0)
    lengths = response_lengths.unsqueeze(1)
    return ((positions >= skip_first) & (positions < lengths)).float()


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is 1 (zero when nothing is kept, with a zero gradient)."""
    return (values * mask).sum() / mask.sum().clamp(min=1.0)
