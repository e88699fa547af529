"""The replay's model fallback in real Chromium, with a real policy whose answer on the page is known.

The demonstration orders a mug on ``tests/workflow_pages/fallback_order.html``; on the
``moved`` variant the order button is renamed ("Confirm purchase") and moved, so no rung of the
ladder may take it. The policy is the shipped tiny model with a LoRA fine-tuned on the exact
prompt the fallback sends for that step (``known_answer_policy``), opened like any adapter.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fallback_order import click, record_order, serving, stuck_at

from traj.eventlog import Store
from traj.policy import open_policy
from traj.projections import Projections, load_demo
from traj.replay import replay


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("pages")) as url:
        yield url


@pytest.fixture(scope="module")
def demo(site: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store holding one demonstration of the order (copied per test, so healing stays its own)."""
    home = tmp_path_factory.mktemp("demo") / "store"
    return home, record_order(home, site)


@pytest.fixture
def store(demo: tuple[Path, str], tmp_path: Path) -> Iterator[Store]:
    shutil.copytree(demo[0], tmp_path / "store")
    with Store.open(tmp_path / "store") as opened:
        yield opened


@pytest.fixture(scope="module")
def stuck(demo: tuple[Path, str], site: str, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The moved page: the order button (the last step) is not found."""
    return stuck_at("moved", *demo, site, tiny_model, tmp_path_factory.mktemp("moved") / "store")


@pytest.fixture(scope="module")
def stuck_renamed(
    demo: tuple[Path, str], site: str, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """The renamed page: already the first step (a click into the name field, now "Full name") is not found."""
    return stuck_at("renamed", *demo, site, tiny_model, tmp_path_factory.mktemp("renamed") / "store")


@pytest.fixture(scope="module")
def right_adapter(stuck: dict, stuck_renamed: dict, known_answer_adapter) -> Path:
    """Answers the moved page's order step with the moved button, the renamed page's first step with the field."""
    return known_answer_adapter(
        [
            (stuck["prompt"], click(stuck["by_name"], "Confirm purchase")),
            (stuck_renamed["prompt"], click(stuck_renamed["by_name"], "Full name")),
        ]
    )


@pytest.fixture(scope="module")
def right_policy(right_adapter: Path, tiny_model: Path) -> Iterator:
    policy = open_policy("transformers", tiny_model, adapter=str(right_adapter))
    yield policy
    policy.close()


def test_without_a_policy_the_moved_control_fails_as_the_ladder_saw_it(stuck: dict) -> None:
    failed = stuck["result"].steps[-1]
    assert failed.kind == "CLICK" and failed.status == "failed" and failed.source == "workflow"
    assert "element not found" in failed.reason and "model" not in failed.reason
    assert stuck["result"].success is False


def test_the_model_takes_the_step_whose_control_moved(store: Store, site: str, stuck: dict, right_policy) -> None:
    demo_id = stuck["result"].demo_id
    result = replay(store, demo_id, url=f"{site}?variant=moved", policy=right_policy, timeout_s=1.0, headless=True)
    assert result.success is True, result
    model_steps = [s for s in result.steps if s.source == "model"]
    assert [s.step for s in model_steps] == [stuck["index"]]
    [taken] = model_steps
    assert taken.status == "healed" and taken.strategy == "model"
    assert taken.locator == stuck["by_name"]["Confirm purchase"]
    assert taken.decision is not None and taken.decision.attempt == 1
    with Projections(store) as projections:
        rows = projections.query(
            "SELECT step, status, strategy FROM replay_steps WHERE replay_id = $id AND source = 'model'",
            {"id": result.replay_id},
        ).to_pylist()
    assert rows == [{"step": taken.step, "status": "healed", "strategy": "model"}]


def test_the_model_is_asked_without_waiting_the_ladders_timeout_for_a_control_the_page_does_not_show(
    store: Store, site: str, stuck: dict, right_policy
) -> None:
    # "Place order" is on no control of the moved page and no variable names it: after a short
    # grace the model takes the step, long before the ladder's (here very long) timeout.
    demo_id = stuck["result"].demo_id
    result = replay(store, demo_id, url=f"{site}?variant=moved", policy=right_policy, timeout_s=90, headless=True)
    assert result.success is True, result
    taken = result.steps[stuck["index"]]
    assert taken.source == "model" and taken.duration_ms < 90_000


def test_a_control_that_renders_late_is_found_by_the_ladder_not_the_model(
    store: Store, site: str, stuck: dict, right_policy
) -> None:
    # The order button appears 0.6 s after the name is typed: within the grace, so no model step.
    demo_id = stuck["result"].demo_id
    result = replay(store, demo_id, url=f"{site}?variant=late", policy=right_policy, timeout_s=5, headless=True)
    assert result.success is True, result
    assert [s.source for s in result.steps] == ["workflow"] * len(result.steps)


def test_the_models_control_is_written_back_and_the_next_replay_needs_no_model(
    store: Store, site: str, stuck: dict, right_policy
) -> None:
    demo_id = stuck["result"].demo_id
    first = replay(store, demo_id, url=f"{site}?variant=moved", policy=right_policy, timeout_s=1.0, headless=True)
    assert first.success is True
    demo = load_demo(store, demo_id)
    action_id = demo.steps[stuck["index"]].action_id
    element, _ = demo.chosen[action_id]
    assert element.name == "Confirm purchase" and demo.healed[action_id]
    again = replay(store, demo_id, url=f"{site}?variant=moved", timeout_s=1.0, headless=True)  # no policy
    assert again.success is True, again
    assert [s.source for s in again.steps] == ["workflow"] * len(demo.steps)


def test_a_wrong_model_answer_fails_the_step_precisely_after_two_attempts(
    store: Store, site: str, stuck: dict, known_answer_policy
) -> None:
    help_link = stuck["by_name"]["Help"]
    policy = known_answer_policy([(stuck["prompt"], click(stuck["by_name"], "Help"))])
    try:
        result = replay(
            store, stuck["result"].demo_id, url=f"{site}?variant=moved", policy=policy, timeout_s=1.0, headless=True
        )
    finally:
        policy.close()
    failed = result.steps[-1]
    assert result.success is False and failed.status == "failed" and failed.source == "model"
    assert failed.reason.startswith(stuck["result"].steps[-1].reason.split(" (")[0])  # the ladder's finding first
    assert f'attempt 1 answered {{"kind":"CLICK","target":"{help_link}","value":null}}: ' in failed.reason
    assert f"[{help_link}] is a link 'Help', not a button as demonstrated" in failed.reason
    assert "attempt 2 answered" in failed.reason and "attempt 3" not in failed.reason
    assert load_demo(store, stuck["result"].demo_id).healed == {}  # nothing written back


def test_at_most_max_model_steps_are_taken_by_the_model(
    store: Store, site: str, stuck_renamed: dict, right_policy
) -> None:
    assert stuck_renamed["index"] == 0
    demo_id = stuck_renamed["result"].demo_id
    url = f"{site}?variant=renamed"
    result = replay(store, demo_id, url=url, policy=right_policy, max_model_steps=1, timeout_s=1.0, headless=True)
    first, second = result.steps
    assert (first.source, first.status, first.locator) == ("model", "healed", stuck_renamed["by_name"]["Full name"])
    assert second.status == "failed" and second.source == "workflow" and result.success is False
    assert "element not found" in second.reason
    assert second.reason.endswith("; no model step left (--max-model-steps 1 used)")
    with Projections(store) as projections:
        [row] = projections.query(
            "SELECT model_steps FROM replays WHERE replay_id = $id", {"id": result.replay_id}
        ).to_pylist()
    assert row == {"model_steps": 1}


def test_a_negative_model_step_budget_is_refused_before_anything_runs(store: Store, stuck: dict, one_line) -> None:
    from traj.errors import TrajError

    with pytest.raises(TrajError) as raised:
        replay(store, stuck["result"].demo_id, max_model_steps=-1, headless=True)
    assert "--max-model-steps must be 0 or more" in one_line(raised.value)
    with Projections(store) as projections:
        [row] = projections.query("SELECT count(*) AS n FROM replays").to_pylist()
    assert row == {"n": 0}


def test_traj_replay_takes_the_policy_from_backend_model_and_adapter(
    demo: tuple[Path, str], site: str, tiny_model: Path, right_adapter: Path, tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from traj.cli import app

    shutil.copytree(demo[0], tmp_path / "store")
    args = ["replay", demo[1], "--url", f"{site}?variant=moved", "--timeout", "1", "--headless", "--json"]
    model = ["--backend", "transformers", "--model", str(tiny_model), "--adapter", str(right_adapter)]
    result = CliRunner().invoke(app, [*args, *model, "--home", str(tmp_path / "store")])
    assert result.exit_code == 0, result.output
    replayed = json.loads(result.stdout.strip().splitlines()[-1])
    assert [s["source"] for s in replayed["steps"]] == ["workflow", "workflow", "model"]
    without = CliRunner().invoke(app, [*args, "--no-heal", "--home", str(tmp_path / "store")])
    assert without.exit_code == 0  # the model's control was written back: no model needed now


def test_the_model_reads_the_demonstrated_step_with_its_enrichment_and_the_goal(
    store: Store, site: str, stuck: dict, tiny_model: Path
) -> None:
    from traj.browser import launch
    from traj.eventlog import Enrichment
    from traj.replay import fallback_prompt

    demo = load_demo(store, stuck["result"].demo_id)
    last = demo.steps[stuck["index"]]
    why = Enrichment(
        demo_id=demo.demo_id,
        action_id=last.action_id,
        step_hash="h",
        model="vlm",
        prompt_version="1",
        explanation="Placing the order is the goal's last step.",
        element_rationale="The form's submit button.",
        expected_outcome="The page confirms the order.",
    )
    store.append(f"enrich/{demo.demo_id}", [why], expected_seq=None)
    policy = open_policy("transformers", tiny_model)
    try:
        with launch(headless=True) as session:
            session.page.goto(f"{site}?variant=moved")
            prompt = fallback_prompt(
                store, demo.demo_id, stuck["index"], session.page, policy, goal="Order a mug for Bo"
            )
    finally:
        policy.close()
    text = prompt.text
    assert "Demonstration of: Order a mug for Ada" in text and "Goal: Order a mug for Bo" in text
    assert '"kind":"TYPE"' in text and '"value":"$1"' in text  # the typed name is the goal's variable,
    assert "Values: $1 = Bo\n" in text  # written as its reference to the run's goal
    assert f'Step {stuck["index"] + 1}: {{"kind":"CLICK","target":"{last.action.target}","value":null}}' in text
    assert "Why: Placing the order is the goal's last step." in text and "Confirm purchase" in text
    assert text.rstrip().endswith(f"Step {stuck['index'] + 1}:")


def test_the_model_reads_the_runs_values_where_they_differ_from_the_demonstrated_ones(
    site: str, tiny_model: Path, tmp_path: Path
) -> None:
    from fallback_order import order_for_ada

    from traj.browser import launch, record
    from traj.replay import fallback_prompt

    with Store.open(tmp_path / "store") as store:
        demo = record(store, site, task="order", demonstrator=order_for_ada, headless=True, variables={"name": "Ada"})
        policy = open_policy("transformers", tiny_model)
        try:
            with launch(headless=True) as session:
                session.page.goto(site)
                texts = {
                    value: fallback_prompt(store, demo.demo_id, 2, session.page, policy, variables={"name": value}).text
                    for value in ("Bob", "Ada")
                }
        finally:
            policy.close()
    assert "Values for this run: name = 'Bob'" in texts["Bob"] and '"value":"Bob"' in texts["Bob"]
    assert "Values for this run" not in texts["Ada"] and '"value":"$1"' in texts["Ada"]  # the goal's own value
    assert "Values: $1 = Ada\n" in texts["Ada"]
