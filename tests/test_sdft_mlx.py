"""The MLX trainer computes the torch trainer's loss, and trains and saves like it."""

from __future__ import annotations

import json

import pytest
import torch

from traj.train import SdftConfig, SdftTrainer, TrainingExample
from traj.train._divergence import masked_mean, per_token_divergence, response_mask
from traj.train._sdft_mlx import MlxSdftTrainer

EXAMPLES = [
    TrainingExample(
        query=f"Goal: open item {i}\nNext action:",
        teacher_query=f"Demonstration: CLICK {i}\nGoal: open item {i}\nNext action:",
        target=json.dumps({"kind": "CLICK", "target": str(i), "value": None}, separators=(",", ":")),
    )
    for i in range(1, 5)
]
TOLERANCE = 1e-6


def _config(**changes) -> SdftConfig:
    base = dict(rank=4, lora_alpha=8, learning_rate=5e-3, max_new_tokens=10, mask_first_tokens=1, temperature=0.0)
    return SdftConfig(**(base | changes))


def _torch_sdft_loss(trainer: SdftTrainer, divergence: str) -> tuple[list[list[int]], float]:
    """The torch trainer's greedy rollout of EXAMPLES and its SDFT loss on it (teacher forcing)."""
    responses = trainer.rollouts([e.query for e in EXAMPLES], temperature=0.0)
    student = trainer._batch([e.query for e in EXAMPLES], responses)
    teacher = trainer._batch([e.teacher_query for e in EXAMPLES], responses)
    with torch.no_grad():
        student_logits = trainer._response_logits(student)
        trainer.model.set_adapter("teacher")
        teacher_logits = trainer._response_logits(teacher)
        trainer.model.set_adapter("student")
    mask = response_mask(student.response_lengths, student.response_width, trainer.config.mask_first_tokens)
    return responses, float(masked_mean(per_token_divergence(student_logits, teacher_logits, divergence), mask))


@pytest.mark.parametrize(
    ("objective", "divergence"), [("sdft", "reverse"), ("sdft", "forward"), ("sdft", "jsd"), ("sft", "reverse")]
)
def test_same_adapter_same_batch_same_loss(model_dir, tmp_path, objective, divergence):
    config = _config(objective=objective, divergence=divergence, ema_alpha=0.5)
    torch_trainer = SdftTrainer(model_dir, config, total_steps=5)
    torch_trainer.step(EXAMPLES)  # a non-zero student and teacher to start both from
    mlx_trainer = MlxSdftTrainer(
        model_dir, config, total_steps=5, initial_adapter=torch_trainer.save_student(tmp_path / "start")
    )
    mlx_trainer.set_teacher_factors(torch_trainer.teacher_factors())
    if objective == "sft":
        expected = float(torch_trainer._sft_loss(EXAMPLES)[0].detach())
        responses = [mlx_trainer._encode(e.target + mlx_trainer.tokenizer.eos_token) for e in EXAMPLES]
    else:  # teacher forcing on one fixed rollout
        responses, expected = _torch_sdft_loss(torch_trainer, divergence)
    assert expected > 0
    assert mlx_trainer.loss_on(EXAMPLES, responses) == pytest.approx(expected, abs=TOLERANCE, rel=1e-4)


def test_mlx_steps_lower_the_divergence_and_move_the_teacher_by_alpha(model_dir, tmp_path):
    trainer = MlxSdftTrainer(model_dir, _config(ema_alpha=0.0), total_steps=8)
    fixed = trainer.rollouts([e.query for e in EXAMPLES], temperature=0.0)
    before = trainer.loss_on(EXAMPLES, fixed)
    for _ in range(8):
        trainer.step(EXAMPLES)
    assert trainer.loss_on(EXAMPLES, fixed) < 0.7 * before
    moving = MlxSdftTrainer(model_dir, _config(ema_alpha=0.25), total_steps=5)
    metrics = moving.step(EXAMPLES)
    assert metrics.teacher_drift > 0 and metrics.kl >= 0
    saved = moving.save_student(tmp_path / "mlx")
    assert json.loads((saved / "adapter_config.json").read_text())["lora_parameters"]["scale"] == 2.0


def test_an_mlx_trainer_started_from_an_adapter_continues_where_the_torch_one_would(model_dir, tmp_path):
    """Continual learning through MLX: student and EMA teacher start at the saved adapter's delta,
    so the first loss equals the torch trainer's started from the same adapter."""
    import numpy as np
    from safetensors.torch import load_file

    config = _config(ema_alpha=0.5)
    first = SdftTrainer(model_dir, config, total_steps=5)
    for _ in range(2):
        first.step(EXAMPLES)
    saved = first.save_student(tmp_path / "a")
    on_torch = SdftTrainer(model_dir, config, total_steps=5)
    on_torch.start_from(saved)
    on_mlx = MlxSdftTrainer(model_dir, config, total_steps=5)
    on_mlx.start_from(saved)

    responses, expected = _torch_sdft_loss(on_torch, "reverse")
    assert expected > 0, "the saved adapter's teacher context differs from its query: a non-zero divergence"
    assert on_mlx.loss_on(EXAMPLES, responses) == pytest.approx(expected, abs=TOLERANCE, rel=1e-4)
    weights = load_file(saved / "adapter_model.safetensors")
    scale = config.lora_alpha / config.rank
    for path, (u, v) in on_mlx.teacher.items():
        a, b = (weights[f"base_model.model.{path}.lora_{x}.weight"].numpy() for x in "AB")
        assert np.allclose(np.array(u) @ np.array(v), scale * b @ a, atol=1e-6)


def test_starting_an_mlx_trainer_from_an_adapter_that_does_not_fit_is_refused(model_dir, tmp_path):
    from traj.errors import TrainingError

    other_rank = SdftTrainer(model_dir, _config(rank=2, lora_alpha=4), total_steps=1).save_student(tmp_path / "r2")
    with pytest.raises(TrainingError, match="does not fit"):
        MlxSdftTrainer(model_dir, _config(), total_steps=1).start_from(other_rank)
    other_scale = SdftTrainer(model_dir, _config(lora_alpha=4), total_steps=1).save_student(tmp_path / "s1")
    with pytest.raises(TrainingError, match="lora_alpha/r = 1, this trainer 2"):
        MlxSdftTrainer(model_dir, _config(), total_steps=1).start_from(other_scale)
    with pytest.raises(TrainingError, match="no adapter to start from"):
        MlxSdftTrainer(model_dir, _config(), total_steps=1).start_from(tmp_path / "missing")
