"""The LoRA teacher's EMA is an EMA of the weight delta B A, moved by exactly alpha each step."""

from __future__ import annotations

import pytest
import torch

from traj.train._ema import ema_update_lowrank


def _student(out, inp, r, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(out, r, generator=generator), torch.randn(r, inp, generator=generator)


@pytest.mark.parametrize(("out", "inp"), [(24, 16), (16, 40)])
def test_matches_the_full_matrix_ema_while_the_rank_fits(out, inp):
    r, rank, alpha, scale = 2, 8, 0.2, 2.0
    u, v = torch.zeros(out, rank, dtype=torch.float64), torch.zeros(rank, inp, dtype=torch.float64)
    full = torch.zeros(out, inp, dtype=torch.float64)
    for step in range(4):  # 4 students of rank 2 span rank 8: nothing to truncate
        b, a = (t.double() for t in _student(out, inp, r, step))
        u, v, error = ema_update_lowrank(u, v, b, a, alpha=alpha, scale=scale)
        full = (1 - alpha) * full + alpha * scale * (b @ a)
        assert error < 1e-9
        assert torch.allclose(u @ v, full, atol=1e-9)


def test_the_teacher_moves_by_alpha_towards_the_student():
    out, inp, r, rank = 20, 12, 4, 8
    u0, v0 = (t.double() for t in _student(out, inp, rank, 7))
    b, a = (t.double() for t in _student(out, inp, r, 8))
    for alpha in (0.02, 0.1, 0.3):
        u, v, _ = ema_update_lowrank(u0, v0, b, a, alpha=alpha, scale=0.5)
        before, target = u0 @ v0, 0.5 * (b @ a)
        moved = torch.linalg.norm(u @ v - before) / torch.linalg.norm(target - before)
        # The truncation back to rank 8 may cost a little; the move is alpha up to that.
        assert moved.item() == pytest.approx(alpha, rel=0.05)


def test_separate_ema_of_a_and_b_would_be_wrong():
    """The reason this module exists: averaging the factors is not averaging the product."""
    b1, a1 = _student(10, 10, 2, 1)
    b2, a2 = _student(10, 10, 2, 2)
    product_of_averages = ((b1 + b2) / 2) @ ((a1 + a2) / 2)
    average_of_products = (b1 @ a1 + b2 @ a2) / 2
    assert not torch.allclose(product_of_averages, average_of_products, atol=1e-2)
    u, v = torch.zeros(10, 4), torch.zeros(4, 10)
    u, v, _ = ema_update_lowrank(u, v, b1, a1, alpha=1.0, scale=1.0)
    u, v, _ = ema_update_lowrank(u, v, b2, a2, alpha=0.5, scale=1.0)
    assert torch.allclose(u @ v, average_of_products, atol=1e-4)


def test_truncation_error_is_reported_when_the_rank_does_not_fit():
    u, v = torch.zeros(30, 2, dtype=torch.float64), torch.zeros(2, 30, dtype=torch.float64)
    errors = []
    for step in range(5):
        b, a = (t.double() for t in _student(30, 30, 2, step))
        u, v, error = ema_update_lowrank(u, v, b, a, alpha=0.5, scale=1.0)
        errors.append(error)
    assert errors[0] < 1e-9 and max(errors[1:]) > 1e-3
    assert u.shape == (30, 2) and v.shape == (2, 30)


def test_alpha_out_of_range_is_refused():
    with pytest.raises(ValueError, match="alpha"):
        ema_update_lowrank(
            torch.zeros(2, 1), torch.zeros(1, 2), torch.zeros(2, 1), torch.zeros(1, 2), alpha=1.5, scale=1
        )


def test_all_modules_at_once_equal_one_module_at_a_time_and_the_move_is_measured_on_the_factors():
    from traj.train._ema import ema_update_modules

    shapes = [(24, 16), (16, 40), (24, 16), (16, 40), (24, 16)]
    teachers = [_student(o, i, 6, 10 + k) for k, (o, i) in enumerate(shapes)]
    students = [_student(o, i, 3, 20 + k) for k, (o, i) in enumerate(shapes)]
    updated, moved, worst = ema_update_modules(teachers, students, alpha=0.3, scale=2.0)
    expected_move = 0.0
    for (u, v), (b, a), (new_u, new_v) in zip(teachers, students, updated, strict=True):
        one_u, one_v, _ = ema_update_lowrank(u, v, b, a, alpha=0.3, scale=2.0)
        assert torch.allclose(new_u @ new_v, one_u @ one_v, atol=1e-4)
        expected_move += float(torch.linalg.norm(new_u.double() @ new_v.double() - u.double() @ v.double())) ** 2
    assert moved == pytest.approx(expected_move**0.5, rel=1e-6)
    assert worst > 1e-3  # rank 6 + 3 brought back to 6: something is cut, and it is reported
