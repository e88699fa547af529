"""``traj run`` from the command line on a bundled site, with the tiny model.

Its own module: ``traj run`` starts Playwright, which cannot run inside another test module's
live browser fixture.
"""

from __future__ import annotations

import re

from typer.testing import CliRunner

from traj.cli import app
from traj.eventlog import Store
from traj.projections import Projections


def test_traj_run_cli_on_a_bundled_site(home, tiny_model):
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--task",
            "calendar",
            "--model",
            str(tiny_model),
            "--max-steps",
            "2",
            "--headless",
            "--home",
            str(home),
        ],
    )
    assert "run " in result.output and "traj query" in result.output, result.output
    assert result.exit_code in (0, 1)
    with Store.open(home, readonly=True) as store, Projections(store) as projections:
        runs = projections.query("SELECT task, backend, steps FROM runs").to_pylist()
    assert runs and runs[0]["task"] == "calendar" and runs[0]["backend"] == "transformers"


def test_traj_run_ask_when_unsure_prints_the_question_and_goes_on_when_nobody_acts(home, tiny_model):
    args = ["run", "--task", "calendar", "--model", str(tiny_model), "--max-steps", "1", "--headless"]
    args += ["--ask-when-unsure", "--confidence-threshold", "1", "--ask-timeout", "0.5", "--home", str(home)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1), result.output
    assert "the agent is unsure at step 0 (p=" in result.output and "< 1): do this step in the browser" in result.output
    assert "nobody acted within 0.5 s at step 0: the agent does" in result.output
    with Store.open(home, readonly=True) as store, Projections(store) as projections:
        [step] = projections.query("SELECT outcome, confidence FROM run_steps").to_pylist()
    assert step["outcome"] in ("ok", "failed") and 0 < step["confidence"] < 1


def test_traj_run_no_constrain_turns_it_off(home, model_dir):
    """An untrained model: constrained it still acts, unconstrained its first step is rejected."""
    outcome = {}
    for flag in ("--constrain", "--no-constrain"):
        args = ["run", "--task", "expense", "--model", str(model_dir), "--max-steps", "1", "--headless", flag]
        result = CliRunner().invoke(app, [*args, "--home", str(home)])
        assert result.exit_code in (0, 1), result.output
        run_id = re.search(r"^run (\S+):", result.output, re.MULTILINE)[1]
        with Store.open(home, readonly=True) as store, Projections(store) as projections:
            rows = projections.query(f"SELECT outcome FROM run_steps WHERE run_id = '{run_id}'").to_pylist()
        outcome[flag] = [row["outcome"] for row in rows]
    assert outcome["--constrain"] != ["rejected"] and outcome["--no-constrain"] == ["rejected"], outcome
