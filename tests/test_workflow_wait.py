"""A demonstrated WAIT replays as the condition the person waited for, in real Chromium on
fixture pages whose event comes at a seeded time: a price crossing the goal's threshold, a
status line naming the goal's value; a wait with nothing to derive keeps the person's time.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import mouse_click, serve_directory

from traj.browser import record
from traj.eventlog import Store
from traj.policy import open_policy
from traj.projections import crossing, goal_thresholds, load_demo
from traj.replay import WaitCondition, replay, wait_condition

PAGES = Path(__file__).parent / "workflow_pages"
GOAL = "Watch the price. As soon as it drops below $40, press Buy"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("pages")
    for page in PAGES.glob("wait_*.html"):
        shutil.copy(page, root / page.name)
    with serve_directory(root) as url:
        yield url


def watch_and_buy(page) -> None:
    """A person starts watching, waits until the price is below $40 (the goal's number), presses Buy."""
    mouse_click(page, "#watch")
    page.wait_for_function("() => parseFloat(document.getElementById('price').textContent.slice(1)) < 40", polling=100)
    mouse_click(page, "#buy")
    page.get_by_text("Bought").wait_for()


def make_report(page) -> None:
    """A person asks for Ada's report, waits until it is ready, then downloads it."""
    mouse_click(page, "#who")
    page.keyboard.type("Ada", delay=5)
    mouse_click(page, "#make")
    page.get_by_text("Report ready for Ada").wait_for()
    mouse_click(page, "#download")
    page.get_by_text("Downloaded").wait_for()


def wait_and_continue(page) -> None:
    """A person waits a while (only a clock moves), then continues."""
    page.wait_for_timeout(1600)
    mouse_click(page, "#go")
    page.get_by_text("Continued").wait_for()


def _record(store: Store, url: str, goal: str, demonstrator) -> str:
    return record(store, url, task="wait", goal=goal, demonstrator=demonstrator, headless=True).demo_id


def _wait_index(store: Store, demo_id: str) -> int:
    kinds = [step.action.kind for step in load_demo(store, demo_id).steps]
    assert "WAIT" in kinds, kinds
    return kinds.index("WAIT")


@pytest.fixture
def price_demo(store: Store, site: str) -> str:
    return _record(store, f"{site}/wait_threshold.html?seed=0", GOAL, watch_and_buy)


def test_the_goals_threshold_a_wait_crossed_is_a_variable_of_the_demo(store: Store, price_demo: str) -> None:
    demo = load_demo(store, price_demo)
    index = _wait_index(store, price_demo)
    assert demo.defaults["threshold"] == "$40"
    assert demo.variables["threshold"] == [demo.steps[index].action_id]  # the WAIT, not Buy after it
    assert "{threshold}" in demo.template
    bound = demo.defaults | {"threshold": "$45"}
    condition = wait_condition(demo, index, bound)
    assert condition is not None and condition.limit == 45.0 and condition.quantity is not None
    assert condition.quantity.below and "below $45" in condition.describe()


def test_a_replay_on_an_instance_whose_price_drops_later_waits_for_it(store: Store, site: str, price_demo: str) -> None:
    # Seed 1: the limit is $45 and the drop comes 2.5 s later than in the demonstration.
    result = replay(
        store,
        price_demo,
        url=f"{site}/wait_threshold.html?seed=1",
        goal="Watch the price. As soon as it drops below $45, press Buy",
        headless=True,
        heal=False,
    )
    assert [s.status for s in result.steps] == ["ok"] * len(result.steps)
    assert result.success is True, result.reason


def test_a_crossing_that_never_comes_fails_the_wait_naming_the_condition(
    store: Store, site: str, price_demo: str
) -> None:
    result = replay(
        store,
        price_demo,
        url=f"{site}/wait_threshold.html?seed=0",
        goal="Watch the price. As soon as it drops below $5, press Buy",  # this page never goes under $38
        headless=True,
        heal=False,
        timeout_s=2,
    )
    failed = result.steps[-1]
    assert failed.kind == "WAIT" and failed.status == "failed"
    assert "below $5" in failed.reason and "never held" in failed.reason
    assert result.success is False
    assert len(result.steps) == _wait_index(store, price_demo) + 1  # Buy was never pressed


def test_a_step_taken_as_soon_as_the_number_crossed_waits_for_it_without_a_recorded_wait(
    store: Store, site: str, tiny_model: Path
) -> None:
    # The drop comes 0.2 s after "Watch": the person presses Buy too soon after for a WAIT.
    demo_id = _record(store, f"{site}/wait_threshold.html?seed=0&delay=200", GOAL, watch_and_buy)
    demo = load_demo(store, demo_id)
    assert [step.action.kind for step in demo.steps] == ["CLICK", "CLICK"]
    buy = demo.steps[1]
    assert demo.variables["threshold"] == [buy.action_id]
    condition = wait_condition(demo, 1, demo.defaults | {"threshold": "$45"})
    assert condition is not None and condition.texts == () and "below $45" in condition.describe()

    # Seed 1: the drop comes 2.5 s after "Watch"; pressing Buy at once would be too early.
    result = replay(
        store,
        demo_id,
        url=f"{site}/wait_threshold.html?seed=1",
        goal="Watch the price. As soon as it drops below $45, press Buy",
        headless=True,
        heal=False,
    )
    assert [s.status for s in result.steps] == ["ok", "ok"]
    assert result.success is True, result.reason

    # A crossing that never comes fails Buy naming it; no model presses Buy in its place.
    policy = open_policy("transformers", tiny_model)
    try:
        never = replay(
            store,
            demo_id,
            url=f"{site}/wait_threshold.html?seed=0",
            goal="Watch the price. As soon as it drops below $5, press Buy",
            headless=True,
            heal=False,
            timeout_s=2,
            policy=policy,
        )
    finally:
        policy.close()
    failed = never.steps[-1]
    assert failed.kind == "CLICK" and failed.status == "failed" and failed.source == "workflow"
    assert "waited 2.0 s for the number in '$#' below $5, which never held" in failed.reason
    assert "model" not in failed.reason and never.success is False


def test_a_status_line_naming_the_goals_value_is_awaited_with_the_new_value(store: Store, site: str) -> None:
    demo_id = _record(
        store, f"{site}/wait_status.html?seed=0", 'Make the report for "Ada" and download it', make_report
    )
    demo = load_demo(store, demo_id)
    index = _wait_index(store, demo_id)
    assert demo.defaults["name"] == "Ada"  # the field's label names it
    bound = demo.defaults | {"name": "Grace"}
    assert wait_condition(demo, index, bound) == WaitCondition(texts=("Report ready for Grace",))

    # Seed 1: the report takes 2.5 s longer than in the demonstration.
    result = replay(
        store,
        demo_id,
        url=f"{site}/wait_status.html?seed=1",
        goal='Make the report for "Grace" and download it',
        headless=True,
        heal=False,
    )
    assert [s.status for s in result.steps] == ["ok"] * len(result.steps)
    assert result.success is True, result.reason


def test_a_wait_with_no_derivable_condition_keeps_the_persons_time(store: Store, site: str) -> None:
    demo_id = _record(store, f"{site}/wait_clock.html", "Wait a moment, then continue", wait_and_continue)
    demo = load_demo(store, demo_id)
    index = _wait_index(store, demo_id)
    assert wait_condition(demo, index, demo.defaults) is None  # only a number without a threshold moved

    result = replay(store, demo_id, headless=True, heal=False)
    assert result.steps[index].status == "ok"
    assert result.success is True, result.reason


def test_only_numbers_the_goal_compares_with_are_thresholds() -> None:
    assert goal_thresholds("As soon as it drops below $212, press Notify me") == ["$212"]
    assert goal_thresholds("Buy it when it costs more than 1,200 euros") == ["1,200"]
    assert goal_thresholds("Book the slot on July 9 at 14:00") == []  # a date is no threshold


def test_a_crossing_is_the_same_line_moving_to_the_other_side() -> None:
    before = "Price\n$219.99\nnow: $219.99\nUpdated 3 s ago"
    after = "Price\n$207.99\nnow: $207.99\nUpdated 1 s ago"
    found = crossing(before, after, 212)
    assert found is not None and found.below and found.shape == "$#"
    assert found.holds("Price\n$99.00", 100) and not found.holds("Price\n$101.00", 100)
    assert not found.holds("no price shown", 100)
    assert crossing(before, after, 300) is None  # both below: nothing crossed
    assert crossing("$200.00", "$212.00", 212) is None  # reaching the number is not passing it
    assert crossing("$200.00", "$230.00", 212) is not None and not crossing("$200.00", "$230.00", 212).below
