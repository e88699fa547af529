"""The tiny model traj builds for itself: deterministic, an ordinary checkpoint directory that
transformers and mlx-lm load, and good enough at deciding to be a useful test subject."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traj.cli import app
from traj.tiny import SHIPPED, build_untrained, default_tiny_path, evaluate_tiny, init_tiny, recipe_key, shipped_tiny


def _digest(path: Path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_a_build_is_deterministic_for_a_seed_and_cached(tmp_path: Path) -> None:
    first = init_tiny(tmp_path / "a", seed=3, steps=2, progress=False)
    second = init_tiny(tmp_path / "b", seed=3, steps=2, progress=False)
    assert _digest(first) == _digest(second)
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
    summary = json.loads((first / "traj-tiny.json").read_text())
    assert summary["seed"] == 3 and summary["steps"] == 2
    written = (first / "model.safetensors").stat().st_mtime_ns
    assert init_tiny(first, seed=3, steps=2) == first  # the marker is there: reused, not rebuilt
    assert (first / "model.safetensors").stat().st_mtime_ns == written
    assert not list(tmp_path.glob(".a*partial")), "no work directory is left behind"


def test_transformers_and_mlx_load_it_as_a_checkpoint_and_agree(tiny_model: Path) -> None:
    import mlx.core as mx
    import numpy as np
    import torch
    from mlx_lm import load
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = tokenizer("Goal: sign in as ada", add_special_tokens=False)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    with torch.inference_mode():
        torch_logits = model(input_ids=torch.tensor([ids])).logits[0].numpy()
    mlx_model, mlx_tokenizer = load(str(tiny_model))
    assert mlx_tokenizer.encode("Goal: sign in as ada", add_special_tokens=False) == ids
    mlx_logits = np.array(mlx_model(mx.array([ids]))[0].astype(mx.float32))
    assert np.abs(torch_logits - mlx_logits).max() < 1e-3


def test_the_default_model_writes_valid_actions_and_follows_a_demonstration(tiny_model: Path) -> None:
    """Two bars on held-out synthetic sites: nearly every answer parses as an action, and the
    episode's own demonstration in context makes the next action far more often right
    (what SDFT's teacher needs to be better than the student)."""
    report = evaluate_tiny(tiny_model, n=40)
    # Unconstrained greedy answers: the shipped model writes 95% valid actions over 200 decisions
    # per condition (report.json), 93% over these 40; the misses are runaway repeats of a field.
    assert report.valid_action_rate >= 0.9
    assert report.accuracy_with_own_demo >= report.accuracy_without_demo + 0.2


def test_an_untrained_model_does_not_pass_that_bar(tmp_path: Path) -> None:
    """The bar above measures the pretraining, not the evaluation: random weights fail it."""
    report = evaluate_tiny(build_untrained(tmp_path / "u"), n=10)
    assert report.valid_action_rate < 0.5


def test_the_shipped_model_is_the_default_and_matches_its_recipe() -> None:
    """The committed model is what every machine loads (a build differs across CPUs); a recipe
    change without a rebuild would silently fall back to building, so it fails here instead."""
    assert shipped_tiny() == SHIPPED, "traj/tiny/shipped was built from another recipe: run `traj model build`"
    assert init_tiny(progress=False) == SHIPPED
    summary = json.loads((SHIPPED / "traj-tiny.json").read_text())
    assert summary["key"] == recipe_key()
    weights = (SHIPPED / "model.safetensors").stat().st_size
    assert weights <= 40 * 2**20
    report = json.loads((SHIPPED / "report.json").read_text())
    assert report["valid_action_rate"] >= 0.95  # what `traj model build` measured, n=200 per condition


def test_a_recipe_change_builds_into_the_cache_instead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAJ_CACHE", str(tmp_path))
    assert init_tiny(seed=3, steps=1, progress=False) == default_tiny_path(3, 1)
    assert default_tiny_path(3, 1).parent == tmp_path and default_tiny_path(3, 1) != SHIPPED


def test_model_build_from_the_command_line(tmp_path: Path) -> None:
    target = tmp_path / "m"
    result = CliRunner().invoke(app, ["model", "build", str(target), "--steps", "1", "--report-n", "2"])
    assert result.exit_code == 0, result.output
    assert str(target) in result.output.replace("\n", "")
    assert (target / "traj-tiny.json").is_file()
    assert json.loads((target / "report.json").read_text())["n"] == 2
    again = CliRunner().invoke(app, ["model", "build", str(target), "--steps", "1"])
    assert again.exit_code == 1 and "already holds a built model" in again.output
