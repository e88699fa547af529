"""Each bundled task, demonstrated by its script and recorded in real Chromium.

A recorded demo must be trainable and replayable, so beyond the event shapes every
recorded locator is checked on the recorded page itself: the demo is walked again in a
fresh context of the same seed, and before each action every one of its locators must
resolve to exactly one element, the same one, which the observation names as the target.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from traj.browser import launch, record, resolve_locator
from traj.eventlog import Store
from traj.projections import Projections
from traj.sites import SITES, run_script, serve_sites

SEED = 3


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_sites() as running:
        yield running.url


@pytest.fixture(scope="module")
def recorded(server: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list]]:
    """Every site's scripted demo recorded into one store; events per task."""
    home = tmp_path_factory.mktemp("sites") / "store"
    demos: dict[str, list] = {}
    with Store.open(home) as store:
        for name, site in SITES.items():
            url = site.start_url(server, SEED, fast=True)
            demo = record(
                store,
                url,
                task=name,
                seed=SEED,
                demonstrator=lambda page, name=name: run_script(name, page, server, SEED, fast=True),
                headless=True,
            )
            demos[name] = [e for e in store.events() if e.stream == demo.stream]
    return home, demos


@pytest.mark.parametrize("name", list(SITES))
def test_the_scripted_demo_is_recorded_and_succeeds(recorded, name: str) -> None:
    _, demos = recorded
    events = demos[name]
    assert events[0].type == "demo.started" and events[0].data.source == "script"
    assert events[0].data.goal  # read from the page's window.traj.goal
    assert events[-1].type == "demo.finished" and events[-1].data.success is True, events[-1].data
    by_id = {e.event_id: e for e in events}
    actions = [e.data for e in events if e.type == "action"]
    assert len(actions) >= 3
    for action in actions:
        observation = by_id[action.observation_id]
        assert observation.type == "observation" and observation.data.screenshot
        assert events.index(observation) == events.index(next(e for e in events if e.data is action)) - 1
    kinds = {a.kind for a in actions}
    assert "CLICK" in kinds


def test_typing_is_coalesced_and_enter_and_navigation_are_captured(recorded) -> None:
    _, demos = recorded
    all_actions = [e.data for events in demos.values() for e in events if e.type == "action"]
    typed = [a for a in all_actions if a.kind == "TYPE"]
    assert typed and all(a.value for a in typed)
    # One TYPE per field visit: never two TYPEs in a row on the same target.
    for events in demos.values():
        actions = [e.data for e in events if e.type == "action"]
        for first, second in itertools.pairwise(actions):
            assert not (first.kind == second.kind == "TYPE" and first.target == second.target)
    kinds = {a.kind for a in all_actions}
    assert {"NAVIGATE", "SELECT"} <= kinds


def test_screenshots_are_deduplicated_across_the_store(recorded) -> None:
    home, demos = recorded
    digests = [e.data.screenshot for events in demos.values() for e in events if e.type == "observation"]
    files = [p for p in (home / "blobs" / "sha256").rglob("*") if p.is_file()]
    assert len(files) == len(set(digests)) < len(digests)


def test_steps_by_task_answers_for_the_recorded_demos(recorded) -> None:
    home, demos = recorded
    with Store.open(home, readonly=True) as store, Projections(store) as projections:
        rows = projections.query("select task, count(*) AS n from steps group by task ORDER BY task").to_pylist()
    expected = {name: sum(e.type == "action" for e in events) for name, events in demos.items()}
    assert {r["task"]: r["n"] for r in rows} == expected


@pytest.mark.parametrize("name", list(SITES))
def test_every_recorded_locator_resolves_to_exactly_the_acted_element(recorded, server: str, name: str) -> None:
    _, demos = recorded
    events = demos[name]
    by_id = {e.event_id: e for e in events}
    checked = 0
    with launch(headless=True) as session:
        page = session.page
        page.goto(SITES[name].start_url(server, SEED, fast=True))
        for action in (e.data for e in events if e.type == "action"):
            observation = by_id[action.observation_id].data
            if action.kind == "NAVIGATE":
                if page.url != action.value:
                    page.wait_for_url(action.value, timeout=5000)
                continue
            if action.target is None:
                continue
            element = next(el for el in observation.elements if el.agent_id == action.target)
            handles = []
            for strategy, value in action.locators:
                locator = resolve_locator(page, strategy, value)
                locator.first.wait_for(state="attached", timeout=5000)
                assert locator.count() == 1, (name, action.step, strategy, value)
                handles.append(locator.element_handle())
            assert handles, (name, action)
            same = page.evaluate("hs => hs.every(h => h === hs[0])", handles)
            assert same, (name, action.step, action.locators)
            tag = handles[0].evaluate("el => el.tagName.toLowerCase()")
            assert tag == element.tag
            _perform(page, resolve_locator(page, *action.locators[0]), action)
            checked += 1
    assert checked >= 3


def _perform(page, locator, action) -> None:
    """Do the recorded action the way the person did, so the next step sees the recorded state."""
    if action.kind == "CLICK":
        locator.click()
    elif action.kind == "TYPE":
        locator.fill(action.value or "")
    elif action.kind == "SELECT":
        locator.select_option(label=action.value)
    elif action.kind == "PRESS_ENTER":
        locator.press("Enter")
    page.wait_for_timeout(50)
