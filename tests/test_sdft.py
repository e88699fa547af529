"""SDFT on a small model: what a step changes, that it learns, the EMA teacher, saved adapters, lineage."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from traj.train import SdftConfig, SdftTrainer, TrainingExample

EXAMPLES = [
    TrainingExample(
        query=f"Goal: open item {i}\nNext action:",
        teacher_query=f"Demonstration: CLICK {i}\nGoal: open item {i}\nNext action:",
        target=json.dumps({"kind": "CLICK", "target": str(i), "value": None}, separators=(",", ":")),
    )
    for i in range(1, 5)
]
CONFIG = SdftConfig(rank=4, lora_alpha=8, learning_rate=5e-3, max_new_tokens=10, mask_first_tokens=1, temperature=0.0)


def _student_logits(trainer: SdftTrainer, text: str) -> torch.Tensor:
    """Logits at every position of ``text`` through the trainer's student, in eval mode."""
    ids = trainer.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    trainer.model.eval()
    with torch.no_grad():
        return trainer.model(input_ids=ids).logits[0].float()


def test_one_step_updates_only_the_student_adapter(model_dir):
    trainer = SdftTrainer(model_dir, CONFIG, total_steps=5)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    metrics = trainer.step(EXAMPLES)
    changed = {name for name, p in trainer.model.named_parameters() if not torch.equal(p, before[name])}
    assert changed, "nothing was trained"
    assert all(".student." in name or ".teacher." in name for name in changed)
    assert any(".student." in name for name in changed)
    assert not any(".teacher." in name for name, p in trainer.model.named_parameters() if p.requires_grad)
    assert metrics.step == 0 and metrics.kl >= 0 and metrics.grad_norm > 0 and metrics.response_tokens > 0


def test_teacher_moves_by_ema_alpha_of_the_student_delta(model_dir):
    config = replace(CONFIG, ema_alpha=0.25)
    trainer = SdftTrainer(model_dir, config, total_steps=5)
    trainer.step(EXAMPLES)
    student, teacher = trainer.delta_norms()
    assert student > 0
    assert teacher == pytest.approx(0.25 * student, rel=1e-4)  # the teacher started at zero delta


def test_divergence_falls_over_steps_on_one_batch(model_dir):
    trainer = SdftTrainer(model_dir, replace(CONFIG, ema_alpha=0.0), total_steps=30)
    losses = [trainer.step(EXAMPLES).loss for _ in range(8)]
    assert losses[0] > 0
    assert min(losses[-3:]) < 0.5 * losses[0], losses


def test_sft_objective_lowers_the_cross_entropy(model_dir):
    trainer = SdftTrainer(model_dir, replace(CONFIG, objective="sft"), total_steps=30)
    losses = [trainer.step(EXAMPLES).loss for _ in range(6)]
    assert losses[-1] < losses[0]


def test_saved_adapter_reloads_to_identical_logits_in_peft_and_close_in_mlx(model_dir, tmp_path):
    from traj.policy import TransformersPolicy, peft_to_mlx
    from traj.policy._mlx import MlxPolicy

    trainer = SdftTrainer(model_dir, CONFIG, total_steps=5)
    for _ in range(2):
        trainer.step(EXAMPLES)
    text = "Goal: open item 3\nNext action:"
    trained = _student_logits(trainer, text)
    saved = trainer.save_student(tmp_path / "peft")
    policy = TransformersPolicy(model_dir)
    policy.load_adapter("trained", saved)
    assert torch.equal(policy.logits(text), trained)
    mlx = MlxPolicy(model_dir)
    mlx.load_adapter("trained", peft_to_mlx(saved, tmp_path / "mlx"))
    assert np.abs(mlx.logits(text) - trained.numpy()).max() < 1e-4


def test_a_trainer_started_from_an_adapter_continues_from_its_weights(model_dir, tmp_path):
    """Continual learning: the student starts exactly at the saved adapter (same logits), and the
    EMA teacher at the same delta, so the first EMA update does not pull the student back to zero."""
    from safetensors.torch import load_file

    from traj.policy import TransformersPolicy

    first = SdftTrainer(model_dir, CONFIG, total_steps=5)
    for _ in range(2):
        first.step(EXAMPLES)
    saved = first.save_student(tmp_path / "a")

    second = SdftTrainer(model_dir, CONFIG, total_steps=5)
    second.start_from(saved)
    text = "Goal: open item 2\nNext action:"
    started = _student_logits(second, text)
    policy = TransformersPolicy(model_dir)
    policy.load_adapter("a", saved)
    assert torch.equal(policy.logits(text), started)
    student, teacher = second.delta_norms()
    assert student > 0 and teacher == pytest.approx(student, rel=1e-5)
    weights = load_file(saved / "adapter_model.safetensors")
    for path, (u, v) in second.teacher_factors().items():
        a, b = (weights[f"base_model.model.{path}.lora_{x}.weight"].numpy() for x in "AB")
        assert np.allclose(u @ v, CONFIG.lora_alpha / CONFIG.rank * b @ a, atol=1e-6)


def test_starting_from_an_adapter_of_another_shape_is_refused(model_dir, tmp_path):
    from traj.errors import TrainingError

    saved = SdftTrainer(model_dir, replace(CONFIG, rank=2, lora_alpha=4), total_steps=1).save_student(tmp_path / "r2")
    with pytest.raises(TrainingError, match="does not fit"):
        SdftTrainer(model_dir, CONFIG, total_steps=1).start_from(saved)
    with pytest.raises(TrainingError, match="no PEFT adapter"):
        SdftTrainer(model_dir, CONFIG, total_steps=1).start_from(tmp_path / "missing")
