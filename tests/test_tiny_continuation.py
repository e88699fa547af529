"""The tiny model's second stage: skill families that make the goal the only source of each answer,
and a continuation that survives being stopped (resumed from its checkpoint to the same weights)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traj.cli import app
from traj.errors import TrainingError
from traj.prompt import goal_values, parse_action, resolve_values
from traj.tiny import HELDOUT_KINDS, SHIPPED, continue_tiny, heldout_episode, init_tiny, recipe_key
from traj.tiny._synthetic import SKILL_KINDS, TEMPLATES, decisions, episode

_SKILL_FAMILIES = range(2_000_000, 3_000_000)


def _digest(path: Path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_every_skill_decision_is_answered_by_the_goal_or_the_page() -> None:
    samples = list(decisions(7, 300, families=_SKILL_FAMILIES, kinds=SKILL_KINDS))
    assert {s.template for s in samples} == set(SKILL_KINDS.templates)
    looked_up = 0
    for sample in samples:
        right = json.loads(sample.target)
        current = episode(sample.family, 0, SKILL_KINDS)  # the family's site: same kind as the sample's
        assert current.template == sample.template
        if right["target"] is not None:
            assert f"[{right['target']}]" in sample.prompt
        if right["kind"] in ("TYPE", "SELECT"):
            typed = resolve_values(parse_action(sample.target).action, sample.goal).value
            assert typed in sample.goal  # the goal's value, written as its $N where it is one of goal_values
            assert (typed != right["value"]) == (typed in goal_values(sample.goal))
            looked_up += 1
        assert sample.prompt.endswith(f"Step {sample.step + 1}:")
    assert looked_up >= 60  # a good share of the steps copy a value out of the goal


def test_the_field_a_goal_names_is_the_one_typed_into() -> None:
    for instance in range(40):
        shown = episode(2_000_003 + instance, 1, SKILL_KINDS)
        for page, action in zip(shown.pages, shown.actions, strict=True):
            if action.kind == "TYPE":
                element = next(e for e in page.elements if e.agent_id == action.target)
                assert element.name.lower() in shown.goal.lower()


def test_another_instance_shows_the_procedure_but_not_the_answer() -> None:
    """The same site with other values names other fields or options: copying the demonstration
    would be wrong, so only reading the goal is right."""
    differs = Counter()
    for family in range(2_000_000, 2_000_060):
        first, other = episode(family, 1, SKILL_KINDS), episode(family, 2, SKILL_KINDS)
        assert [e.name for e in first.pages[0].elements if e.role == "textbox"] == [
            e.name for e in other.pages[0].elements if e.role == "textbox"
        ]  # one site per family
        differs[first.actions[0].to_json() != other.actions[0].to_json()] += 1
    assert differs[True] >= 50


def test_the_skill_families_are_disjoint_from_the_held_out_and_bundled_kinds() -> None:
    assert set(SKILL_KINDS.templates).isdisjoint(HELDOUT_KINDS) and set(SKILL_KINDS.templates).isdisjoint(TEMPLATES)
    held_out_fields = {
        e.name for i in range(30) for e in heldout_episode("settings", i).pages[0].elements if e.role == "textbox"
    }
    for sample in decisions(3, 200, families=_SKILL_FAMILIES, kinds=SKILL_KINDS):
        assert "profile" not in sample.goal.lower() and "order " not in sample.goal.lower()
        labels = {line.split('"')[1] for line in sample.prompt.splitlines() if line.startswith("[")}
        assert labels.isdisjoint(held_out_fields)


def test_a_paused_continuation_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    summary = continue_tiny(SHIPPED, whole, steps=3, progress=False)
    assert summary["steps"] == 3 and summary["tokens"] > 0
    assert _digest(whole) != _digest(SHIPPED)  # it trained
    assert (whole / "config.json").read_text() == (SHIPPED / "config.json").read_text()  # mlx-lm reads rope_theta
    paused = tmp_path / "paused"
    assert continue_tiny(SHIPPED, paused, steps=3, stop_after=2, progress=False) == {"paused_at": 2}
    assert (paused / "checkpoint.pt").is_file()
    (paused / "checkpoint.pt.tmp").write_bytes(b"half a checkpoint a kill left")  # ignored
    resumed = continue_tiny(SHIPPED, paused, steps=3, progress=False)
    assert _digest(paused) == _digest(whole)
    assert resumed["tokens"] == summary["tokens"]
    assert not (paused / "checkpoint.pt").exists()


def test_a_continuation_needs_a_model_and_a_step(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="holds no model to continue from"):
        continue_tiny(tmp_path / "nothing", tmp_path / "out", steps=2, progress=False)
    with pytest.raises(TrainingError, match="at least one step"):
        continue_tiny(SHIPPED, tmp_path / "out", steps=0, progress=False)
    assert not (tmp_path / "out").exists()


def test_model_continue_from_the_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["model", "continue", str(SHIPPED), str(tmp_path / "m"), "--steps", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "model.safetensors").is_file() and not (tmp_path / "m" / "checkpoint.pt").exists()
    refused = CliRunner().invoke(
        app, ["model", "continue", str(tmp_path / "none"), str(tmp_path / "n"), "--steps", "1"]
    )
    assert refused.exit_code == 1 and "holds no model to continue from" in refused.output


def test_a_build_killed_in_its_second_stage_resumes_to_the_uninterrupted_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a second stage in the recipe (its steps scale with the first's), a build that dies in
    it keeps its work directory; ``resume=True`` skips the finished first stage and ends with the
    weights and summary of a build that never stopped."""
    from dataclasses import replace

    import traj.tiny._model as model

    monkeypatch.setattr(model, "_CONTINUATION", replace(model._CONTINUATION, share=0.5))
    whole = init_tiny(tmp_path / "whole", seed=3, steps=2, progress=False)
    summary = json.loads((whole / "traj-tiny.json").read_text())
    assert summary["continuation"]["steps"] == 1 and summary["key"] == recipe_key(3, 2)

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(model, "continue_tiny", killed)
        with pytest.raises(KeyboardInterrupt):
            init_tiny(tmp_path / "again", seed=3, steps=2, progress=False)
    work = tmp_path / ".again.partial"
    assert (work / "stage-one.json").is_file() and not (tmp_path / "again").exists()
    with monkeypatch.context() as patch:
        patch.setattr(model, "_pretrain", killed)  # the finished first stage is not run again
        again = init_tiny(tmp_path / "again", seed=3, steps=2, progress=False, resume=True)
    assert _digest(again) == _digest(whole)
    resumed = json.loads((again / "traj-tiny.json").read_text())
    assert (resumed["key"], resumed["tokens"], resumed["continuation"]["tokens"]) == (
        summary["key"],
        summary["tokens"],
        summary["continuation"]["tokens"],
    )
    assert not work.exists()
