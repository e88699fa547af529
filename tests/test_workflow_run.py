"""``traj run`` workflow-first, in real Chromium: the chooser, each step's source, the views, the viewer,
and what of a workflow run reaches the training datasets.

The task is ``tests/workflow_pages/fallback_order.html`` (see ``tests/fallback_order.py``). Its
demonstration is a workflow only once a replay verified it; on the ``moved`` variant its last
step is the model's (the tiny model with a LoRA tuned on that decision, ``known_answer_policy``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fallback_order import click, record_order, serving, stuck_at
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from traj.agent import FeedbackError, record_feedback
from traj.browser import launch
from traj.cli import app
from traj.datasets import export_dataset
from traj.eventlog import Store
from traj.policy import open_policy
from traj.projections import Projections
from traj.replay import replay
from traj.serve import serve_in_thread
from traj.view import create_app
from traj.workflow import run_task, workflow_demo

GOAL = "Order a mug for Ada"
_TEXTS = "els => els.map(e => e.textContent)"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("pages")) as url:
        yield url


@pytest.fixture(scope="module")
def recorded(site: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store with one demonstration of the order that no replay has verified yet."""
    home = tmp_path_factory.mktemp("recorded") / "store"
    return home, record_order(home, site)


@pytest.fixture(scope="module")
def verified(recorded: tuple[Path, str], site: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same store after a replay verified the demonstration."""
    home = tmp_path_factory.mktemp("verified") / "store"
    shutil.copytree(recorded[0], home)
    with Store.open(home) as store:
        assert replay(store, recorded[1], headless=True).success is True
    return home


def _open(home: Path, tmp_path: Path) -> Store:
    shutil.copytree(home, tmp_path / "store")
    return Store.open(tmp_path / "store")


@pytest.fixture(scope="module")
def policy(tiny_model: Path) -> Iterator:
    opened = open_policy("transformers", tiny_model)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def model_policy(recorded: tuple[Path, str], site: str, tiny_model: Path, tmp_path_factory, known_answer_policy):
    """Takes the moved page's order step (the only step replay cannot)."""
    stuck = stuck_at("moved", *recorded, site, tiny_model, tmp_path_factory.mktemp("stuck") / "store")
    tuned = known_answer_policy([(stuck["prompt"], click(stuck["by_name"], "Confirm purchase"))])
    yield tuned
    tuned.close()


def test_a_demo_no_replay_verified_is_no_workflow_and_the_agent_runs_alone(
    recorded: tuple[Path, str], site: str, policy, tmp_path: Path
) -> None:
    with _open(recorded[0], tmp_path) as store:
        assert workflow_demo(store, "order") is None
        run = run_task(store, policy, task="order", goal=GOAL, url=site, max_steps=2, headless=True)
        with Projections(store) as projections:
            [row] = projections.query(
                "SELECT mode, demo_id, agent_steps, workflow_steps FROM runs WHERE run_id = $id", {"id": run.run_id}
            ).to_pylist()
            sources = projections.query("SELECT DISTINCT source FROM run_steps").to_pylist()
    assert run.mode == "agent" and run.demo_id is None and run.steps
    assert {s.source for s in run.steps} == {"agent"}
    assert row == {"mode": "agent", "demo_id": None, "agent_steps": len(run.steps), "workflow_steps": 0}
    assert sources == [{"source": "agent"}]


def test_a_verified_demo_runs_as_a_workflow_with_every_steps_source_recorded(
    recorded: tuple[Path, str], verified: Path, site: str, policy, tmp_path: Path
) -> None:
    with _open(verified, tmp_path) as store:
        assert workflow_demo(store, "order") == recorded[1]
        run = run_task(store, policy, task="order", goal=GOAL, url=site, headless=True)
        with Projections(store) as projections:
            [row] = projections.query(
                "SELECT mode, demo_id, replay_id, success, steps, workflow_steps, model_steps, agent_steps, constrained"
                " FROM runs"
            ).to_pylist()
            steps = projections.query(
                "SELECT step, source, outcome, action->>'kind' AS kind FROM run_steps ORDER BY step"
            ).to_pylist()
            [events] = projections.query(
                "SELECT count(*) AS n FROM events WHERE stream = $s AND type IN ('observation', 'action')",
                {"s": f"run/{run.run_id}"},
            ).to_pylist()
    assert run.mode == "workflow" and run.demo_id == recorded[1] and run.success is True
    assert [s.source for s in run.steps] == ["workflow"] * 3
    assert row == {
        "mode": "workflow",
        "demo_id": recorded[1],
        "replay_id": run.replay_id,
        "success": True,
        "steps": 3,
        "workflow_steps": 3,
        "model_steps": 0,
        "agent_steps": 0,
        "constrained": True,  # the model fallback, had it been asked, could write only valid actions
    }
    assert steps == [
        {"step": 0, "source": "workflow", "outcome": "ok", "kind": "CLICK"},
        {"step": 1, "source": "workflow", "outcome": "ok", "kind": "TYPE"},
        {"step": 2, "source": "workflow", "outcome": "ok", "kind": "CLICK"},
    ]
    assert events == {"n": 0}  # the person's decisions repeated: no page or action of the run's own


def test_a_workflow_run_without_the_constraint_says_so(verified: Path, site: str, policy, tmp_path: Path) -> None:
    with _open(verified, tmp_path) as store:
        run = run_task(store, policy, task="order", goal=GOAL, url=site, headless=True, constrain=False)
        with Projections(store) as projections:
            [row] = projections.query("SELECT mode, constrained FROM runs").to_pylist()
    assert run.success is True and row == {"mode": "workflow", "constrained": False}


def test_agent_only_skips_the_workflow(verified: Path, site: str, policy, tmp_path: Path) -> None:
    with _open(verified, tmp_path) as store:
        run = run_task(store, policy, task="order", goal=GOAL, url=site, workflow=False, max_steps=1, headless=True)
    assert run.mode == "agent" and [s.source for s in run.steps] == ["agent"]


def test_the_model_step_of_a_workflow_is_recorded_and_is_the_only_training_row_of_the_run(
    verified: Path, site: str, model_policy, tmp_path: Path
) -> None:
    with _open(verified, tmp_path) as store:
        run = run_task(store, model_policy, task="order", goal=GOAL, url=f"{site}?variant=moved", headless=True)
        assert run.success is True, run
        assert [s.source for s in run.steps] == ["workflow", "workflow", "model"]
        record_feedback(store, run.run_id, "good")  # the whole run judged good
        with Projections(store) as projections:
            [model_step] = projections.query(
                "SELECT step, raw_output, prompt_sha256, action->>'kind' AS kind FROM run_steps WHERE source = 'model'"
            ).to_pylist()
            decisions = projections.query(
                "SELECT step, origin FROM decisions WHERE source = 'run' ORDER BY step"
            ).to_pylist()
            run_decisions = projections.query("SELECT step, source FROM run_decisions").to_pylist()
            pairs = projections.query("SELECT step, origin FROM sft_pairs WHERE origin = 'good_run'").to_pylist()
        per_decision = export_dataset(store, "from_runs", per_decision=True).table.to_pylist()
        feedback_rows = export_dataset(store, "from_feedback").table.to_pylist()
    with TestClient(create_app(tmp_path / "store")) as client:  # what `traj view` serves
        timeline = client.get(f"/api/timeline/run/{run.run_id}").json()
    with serve_in_thread(create_app(tmp_path / "store")) as viewer, launch(headless=True) as session:
        session.page.goto(f"{viewer}/#/run/{run.run_id}")
        session.page.wait_for_function("document.querySelectorAll('article.step').length === 3")
        shown = session.page.eval_on_selector_all("article.step .badge.workflow, article.step .badge.model", _TEXTS)
    assert model_step["step"] == 2 and model_step["kind"] == "CLICK" and model_step["prompt_sha256"]
    assert '"CLICK"' in model_step["raw_output"]
    assert decisions == [{"step": 2, "origin": "run_feedback"}]
    assert run_decisions == [{"step": 2, "source": "model"}]
    assert pairs == [{"step": 2, "origin": "good_run"}]
    assert [(r["stream"], r["step"]) for r in per_decision] == [(f"run/{run.run_id}", 2)]
    run_rows = [r for r in feedback_rows if r["stream"] == f"run/{run.run_id}"]
    assert [r["step"] for r in run_rows] == [2]
    assert timeline["detail"].startswith("workflow · transformers")
    assert [(s["step"], s["source"], s["kind"]) for s in timeline["timeline"]] == [
        (0, "workflow", "CLICK"),
        (1, "workflow", "TYPE"),
        (2, "model", "CLICK"),
    ]
    assert timeline["timeline"][2]["screenshot"] and timeline["timeline"][0]["screenshot"] is None
    assert shown == ["workflow", "workflow", "model"]  # each step's source, as `traj view` draws it


def test_a_workflow_step_cannot_be_corrected_as_if_a_model_had_decided_it(
    verified: Path, site: str, policy, tmp_path: Path, one_line
) -> None:
    with _open(verified, tmp_path) as store:
        run = run_task(store, policy, task="order", goal=GOAL, url=site, headless=True)
        with pytest.raises(FeedbackError) as raised:
            record_feedback(store, run.run_id, "bad", step=1, correction={"kind": "TYPE", "target": "3", "value": "x"})
    assert "repeated the demonstration (source workflow)" in one_line(raised.value)


def test_traj_run_chooses_the_workflow_and_prints_each_steps_source(
    verified: Path, site: str, tiny_model: Path, tmp_path: Path
) -> None:
    shutil.copytree(verified, tmp_path / "store")
    args = ["run", "--task", "order", "--goal", GOAL, "--url", site, "--headless", "--model", str(tiny_model)]
    result = CliRunner().invoke(app, [*args, "--home", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    assert "task succeeded" in result.output and "by the workflow of demo" in result.output
    assert result.output.count(" workflow\n") == 3
    agent = CliRunner().invoke(app, [*args, "--agent-only", "--max-steps", "1", "--home", str(tmp_path / "store")])
    assert "by the agent alone" in agent.output and agent.exit_code in (1, 3), agent.output
