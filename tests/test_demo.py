"""``traj demo`` end to end: one demonstration, an SDFT adapter, and the agent measured on unseen
seeds before and after, the verdict read back from the store's events."""

from __future__ import annotations

import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traj.cli import app
from traj.demo import DemoSettings, run_demo
from traj.errors import TrajError
from traj.eventlog import Store
from traj.projections import Projections


def test_one_demonstration_teaches_the_agent_the_task(tmp_path: Path, tiny_model: Path) -> None:
    """The README's main command as it runs (default settings, the shipped model): the agent fails
    the unseen seeds before training and does more of them after, as the store's events say. Every
    number the report prints is in those events: runs of the base model and of the trained adapter
    on the same unseen seeds, and the KL of every training step from step 0."""
    settings = DemoSettings(model=tiny_model)
    report = run_demo(tmp_path / "home", settings, progress=False, log=lambda line: None)

    with Store.open(tmp_path / "home") as store, Projections(store) as projections:
        rows = projections.query(
            "SELECT coalesce(adapter, 'base') AS who, seed, success, steps FROM runs "
            "WHERE task = 'expense' ORDER BY seed"
        ).to_pylist()
        kl = projections.query(
            "SELECT step, kl FROM kl_metrics WHERE job_id = $job ORDER BY step", {"job": report.job_id}
        ).to_pylist()
        trained_on = projections.query(
            "SELECT st.source, coalesce(r.demo_id, st.stream_id) AS demo, count(DISTINCT st.stream) AS streams "
            "FROM adapters a JOIN train_runs t USING (job_id), "
            "unnest(CAST(json_extract(t.dataset, '$.event_ids') AS VARCHAR[])) AS u(action_id) "
            "JOIN steps st ON st.action_id = u.action_id LEFT JOIN replays r ON r.replay_id = st.stream_id "
            "WHERE a.name = $name GROUP BY ALL ORDER BY ALL",
            {"name": report.adapter},
        ).to_pylist()
        printed = [projections.query(shlex.split(line)[-1]).num_rows for line in report.queries()]
    before = {row["seed"]: bool(row["success"]) for row in rows if row["who"] == "base"}
    after = {row["seed"]: bool(row["success"]) for row in rows if row["who"] == report.adapter}
    seeds = settings.eval_seeds
    assert set(before) == set(after) == set(seeds)
    assert sum(after.values()) > sum(before.values()), f"before {before}, after {after}"
    assert [(s.seed, s.before, s.after) for s in report.seeds] == [(seed, before[seed], after[seed]) for seed in seeds]
    assert report.success_before == sum(before.values()) / len(seeds)
    assert report.success_after == sum(after.values()) / len(seeds)
    steps = settings.training.max_steps
    assert [row["step"] for row in kl] == list(range(steps)) and [row["kl"] for row in kl] == pytest.approx(report.kl)
    assert report.instances == len(settings.train_seeds), "every training seed replayed, observed"
    assert trained_on == [
        {"source": "demo", "demo": report.demo_id, "streams": 1},
        {"source": "replay", "demo": report.demo_id, "streams": len(settings.train_seeds)},
    ], "the one demonstration, and its observed instances"
    assert list(report.phases)[:5] == ["record", "replay", "instances", "enrich", "model"]
    assert report.enrichment.startswith("raw actions") or "enriched" in report.enrichment
    assert report.turnaround_s > report.phases["train"] and report.tokens_per_s > 0
    assert all(line.startswith("traj query --home ") for line in report.queries())
    assert printed == [2, steps, printed[2]] and printed[2] > 0, "every printed query runs and finds its rows"


def test_the_command_reports_and_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    runner = CliRunner()
    unknown = runner.invoke(app, ["demo", "no-such-task", "--home", str(tmp_path / "h")])
    assert unknown.exit_code == 1 and "not a bundled task" in unknown.output
    with pytest.raises(TrajError, match="unseen"):
        run_demo(tmp_path / "h2", replace(DemoSettings(), eval_seeds=(0, 1)), progress=False)
    with pytest.raises(TrajError, match=r"seeds \[3\] are trained on"):
        run_demo(tmp_path / "h2", replace(DemoSettings(), eval_seeds=(3, 101)), progress=False)
    assert not (tmp_path / "h2").exists(), "nothing is created for settings that cannot work"


def test_a_measured_run_is_never_judged_on_what_an_earlier_run_left(tiny_model: Path, tmp_path: Path) -> None:
    """The sites keep a seed's reports in the browser: a run after a successful one on the same
    seed (another adapter, the shuffled variant) must still be judged on what it did itself."""
    from traj.browser import launch
    from traj.demo import measure_agent
    from traj.eventlog import Store
    from traj.policy import open_policy
    from traj.sites import SITES, run_script, serve_sites

    with serve_sites() as server, launch(headless=True) as session, Store.open(tmp_path / "s", create=True) as store:
        run_script("expense", session.page, server.url, 101)  # a correct report for seed 101 stays in the browser
        assert session.page.evaluate("window.traj.check()")["success"] is True
        session.page.goto(SITES["expense"].start_url(server.url, 101, variant="shuffled"))
        assert session.page.evaluate("window.traj.check()")["success"] is True, "the same seed's report, seen again"
        policy = open_policy("transformers", tiny_model)
        try:
            outcomes = measure_agent(
                store, policy, session.page, task="expense", server_url=server.url, seeds=(101,), max_steps=1,
                variant="shuffled", progress=False,
            )  # fmt: skip
        finally:
            policy.close()
    assert [outcome.success for outcome in outcomes] == [False]  # one step of the base model submits nothing
