"""``traj demo`` end to end: one demonstration, an SDFT adapter, and the agent measured on unseen
seeds before and after, the verdict read back from the store's events."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traj.cli import app
from traj.demo import DEMO_TRAINING, DemoSettings, run_demo
from traj.errors import TrajError
from traj.eventlog import Store
from traj.projections import Projections


def test_after_training_the_agent_succeeds_more_often_on_unseen_seeds(tmp_path: Path, tiny_model: Path) -> None:
    settings = DemoSettings(eval_seeds=(101, 102, 103), model=tiny_model)
    report = run_demo(tmp_path / "home", settings, progress=False, log=lambda line: None)

    with Store.open(tmp_path / "home") as store, Projections(store) as projections:
        rows = projections.query(
            "SELECT coalesce(adapter, 'base') AS who, seed, success FROM runs WHERE task = 'expense' ORDER BY seed"
        ).to_pylist()
        kl = projections.query(
            "SELECT step, kl FROM kl_metrics WHERE job_id = $job ORDER BY step", {"job": report.job_id}
        ).to_pylist()
    before = [row["success"] for row in rows if row["who"] == "base"]
    after = [row["success"] for row in rows if row["who"] == report.adapter]
    assert len(before) == len(after) == 3
    assert sum(after) > sum(before), (before, after)
    assert [row["kl"] for row in kl] == pytest.approx(report.kl)
    assert kl[0]["step"] == 0 and len(kl) == DEMO_TRAINING.max_steps
    assert report.success_after == sum(after) / 3 and report.success_before == sum(before) / 3
    assert set(report.phases) >= {"record", "replay", "model", "before", "train", "after"}
    assert report.turnaround_s > 0 and report.tokens_per_s > 0


def test_the_command_reports_and_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["demo", "no-such-task", "--home", str(tmp_path / "h")])
    assert unknown.exit_code == 1 and "not a bundled task" in unknown.output
    with pytest.raises(TrajError, match="unseen"):
        run_demo(tmp_path / "h2", replace(DemoSettings(), eval_seeds=(0, 1)), progress=False)
    assert not (tmp_path / "h2").exists(), "nothing is created for settings that cannot work"
