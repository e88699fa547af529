"""SDFT's per-token divergences against a hand computation, and masking that stops gradients."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from traj.train._divergence import masked_mean, per_token_divergence, response_mask

logit_rows = st.lists(
    st.lists(st.floats(-8, 8, allow_nan=False, width=32), min_size=5, max_size=5), min_size=1, max_size=4
)


def _softmax(row):
    top = max(row)
    exps = [math.exp(x - top) for x in row]
    total = sum(exps)
    return [e / total for e in exps]


def _kl(p, q):
    return sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q, strict=True) if pi > 0)


def _hand(student_row, teacher_row, divergence, beta):
    p_s, p_t = _softmax(student_row), _softmax(teacher_row)
    if divergence == "reverse":
        return _kl(p_s, p_t)
    if divergence == "forward":
        return _kl(p_t, p_s)
    mixture = [beta * t + (1 - beta) * s for s, t in zip(p_s, p_t, strict=True)]
    return beta * _kl(p_t, mixture) + (1 - beta) * _kl(p_s, mixture)


@settings(max_examples=150, deadline=None)
@given(logit_rows, logit_rows, st.sampled_from(["reverse", "forward", "jsd"]), st.floats(0.05, 0.95))
def test_divergences_equal_the_hand_computation(student, teacher, divergence, beta):
    rows = min(len(student), len(teacher))
    student, teacher = student[:rows], teacher[:rows]
    got = per_token_divergence(torch.tensor(student), torch.tensor(teacher), divergence, beta)
    expected = [_hand(s, t, divergence, beta) for s, t in zip(student, teacher, strict=True)]
    assert got.shape == (rows,)
    assert got.tolist() == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert (got >= -1e-6).all()


def test_jsd_ends_are_the_two_kls():
    student, teacher = torch.randn(3, 7), torch.randn(3, 7)
    assert torch.allclose(
        per_token_divergence(student, teacher, "jsd", 0.0), per_token_divergence(student, teacher, "forward")
    )
    assert torch.allclose(
        per_token_divergence(student, teacher, "jsd", 1.0), per_token_divergence(student, teacher, "reverse")
    )


def test_identical_distributions_have_zero_divergence():
    logits = torch.randn(2, 4, 11)
    for divergence in ("reverse", "forward", "jsd"):
        assert per_token_divergence(logits, logits.clone(), divergence).abs().max() < 1e-6


def test_response_mask_skips_the_first_tokens_and_the_padding():
    mask = response_mask(torch.tensor([6, 2, 4]), 6, skip_first=3)
    assert mask.tolist() == [[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0]]


@pytest.mark.parametrize("divergence", ["reverse", "forward", "jsd"])
def test_masked_tokens_get_exactly_zero_gradient(divergence):
    student = torch.randn(2, 5, 9, requires_grad=True)
    teacher = torch.randn(2, 5, 9)
    mask = response_mask(torch.tensor([5, 4]), 5, skip_first=2)
    loss = masked_mean(per_token_divergence(student, teacher, divergence), mask)
    loss.backward()
    per_position = student.grad.abs().sum(-1)
    assert torch.all(per_position[mask == 0] == 0)
    assert torch.all(per_position[mask == 1] > 0)
    expected = (
        sum(
            _hand(student[b, t].tolist(), teacher[b, t].tolist(), divergence, 0.5)
            for b in range(2)
            for t in range(5)
            if mask[b, t]
        )
        / mask.sum().item()
    )
    assert loss.item() == pytest.approx(expected, rel=1e-4)


def test_an_unknown_divergence_is_refused():
    with pytest.raises(ValueError, match="unknown divergence"):
        per_token_divergence(torch.zeros(1, 2), torch.zeros(1, 2), "kl")  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(
    logit_rows,
    logit_rows,
    st.lists(st.lists(st.booleans(), min_size=5, max_size=5).filter(any), min_size=4, max_size=4),
    st.sampled_from(["reverse", "forward", "jsd"]),
)
def test_under_a_constraint_the_divergence_is_over_the_allowed_tokens_renormalised(student, teacher, allowed, kind):
    rows = min(len(student), len(teacher))
    student, teacher, allowed = student[:rows], teacher[:rows], allowed[:rows]
    got = per_token_divergence(torch.tensor(student), torch.tensor(teacher), kind, 0.5, torch.tensor(allowed))
    kept = [[x for x, keep in zip(row, mask, strict=True) if keep] for row, mask in zip(student, allowed, strict=True)]
    kept_t = [
        [x for x, keep in zip(row, mask, strict=True) if keep] for row, mask in zip(teacher, allowed, strict=True)
    ]
    expected = [_hand(s, t, kind, 0.5) for s, t in zip(kept, kept_t, strict=True)]
    assert got.tolist() == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_a_token_the_constraint_forces_has_zero_divergence_and_zero_gradient():
    student = torch.randn(1, 3, 6, requires_grad=True)
    teacher = torch.randn(1, 3, 6)
    allowed = torch.ones(1, 3, 6, dtype=torch.bool)
    allowed[0, 1] = False
    allowed[0, 1, 4] = True  # position 1: one token allowed, as after '{"kind":'
    per_token = per_token_divergence(student, teacher, "reverse", allowed=allowed)
    per_token.sum().backward()
    assert per_token[0, 1] == 0 and per_token[0, 0] > 0
    assert torch.isfinite(student.grad).all()
    assert student.grad[0, 1].abs().max() == 0
