"""Replaying the bundled demos on changed pages and on other seeds.

Each site's scripted demo is recorded once on the plain page, then replayed on variants
the site serves: ``mutated`` (ids and classes renamed, elements reordered, a banner on
top), ``ambiguous`` (a decoy form with the same labels and buttons before the real one),
``removed`` (the task's primary control is gone), and on another seed whose values differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from traj.browser import record
from traj.eventlog import Store
from traj.replay import replay
from traj.sites import SITES, run_script, serve_sites

SEED = 11
FAST = {name: name != "price" for name in SITES}  # the price demo must really wait for the drop


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_sites() as running:
        yield running.url


@pytest.fixture(scope="module")
def demos(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, str]]]:
    store = Store.open(tmp_path_factory.mktemp("replay-sites") / "store")
    ids = {}
    for name, site in SITES.items():
        demo = record(
            store,
            site.start_url(server, SEED, fast=FAST[name]),
            task=name,
            seed=SEED,
            demonstrator=lambda page, name=name: run_script(name, page, server, SEED, fast=FAST[name]),
            headless=True,
        )
        assert demo.success is True, name
        ids[name] = demo.demo_id
    yield store, ids
    store.close()


def _steps(result) -> list[tuple[int, str, str, str]]:
    return [(s.step, s.kind, s.status, s.reason) for s in result.steps]


@pytest.mark.parametrize("name", list(SITES))
def test_a_mutated_site_is_replayed(demos, server: str, name: str) -> None:
    store, ids = demos
    url = SITES[name].start_url(server, SEED, fast=FAST[name], variant="mutated")
    result = replay(store, ids[name], url=url, headless=True, heal=False)
    assert result.success is True, _steps(result)
    assert all(s.status in ("ok", "healed") for s in result.steps)


@pytest.mark.parametrize("name", list(SITES))
def test_a_decoy_is_never_used(demos, server: str, name: str) -> None:
    store, ids = demos
    url = SITES[name].start_url(server, SEED, fast=FAST[name], variant="ambiguous")
    result = replay(store, ids[name], url=url, headless=True, heal=False, timeout_s=3.0)
    if result.success is not True:  # failing loudly is allowed; acting on the decoy is not
        failed = [s for s in result.steps if s.status == "failed"]
        assert failed and ("matches" in failed[0].reason or "not found" in failed[0].reason), _steps(result)


@pytest.mark.parametrize("name", list(SITES))
def test_a_removed_control_fails_with_a_reason(demos, server: str, name: str) -> None:
    store, ids = demos
    url = SITES[name].start_url(server, SEED, fast=FAST[name], variant="removed")
    result = replay(store, ids[name], url=url, headless=True, heal=False, timeout_s=2.0)
    assert result.success is False
    # Either a step fails naming why, or (the form also submits on Enter) every step ran and
    # the site's own predicate says the task was not achieved.
    failed = [s for s in result.steps if s.status == "failed"]
    assert len(failed) <= 1 and all(s.reason for s in failed), _steps(result)


NAMED_IN_GOAL = ("expense", "calendar", "price")
"""Tasks whose instances differ only in values the goal names: the demo binds them and repeats."""


def _started_url(store: Store, replay_id: str) -> str:
    (started,) = store.events(stream=f"replay/{replay_id}", types=["replay.started"])
    return started.data.url


@pytest.mark.parametrize("name", NAMED_IN_GOAL)
def test_a_demo_replays_on_another_seed_bound_from_its_goal(demos, name: str) -> None:
    store, ids = demos
    result = replay(store, ids[name], seed=SEED + 1, headless=True, heal=False)
    assert f"seed={SEED + 1}" in _started_url(store, result.replay_id)  # that instance, not the recorded one
    assert result.success is True, _steps(result)


@pytest.mark.parametrize("name", sorted(set(SITES) - set(NAMED_IN_GOAL)))
def test_a_target_chosen_by_page_content_is_never_replaced_by_another(demos, name: str) -> None:
    """flights (the cheapest row) and cross_app (the organizer's email, then its meeting) pick
    their control from what the page shows: on another seed the recorded control is absent and
    the replay fails at that step, naming the control it refused; it never reports success."""
    store, ids = demos
    result = replay(store, ids[name], seed=SEED + 1, headless=True, heal=False, timeout_s=2.0)
    assert f"seed={SEED + 1}" in _started_url(store, result.replay_id)
    assert result.success is False, _steps(result)
    (failed,) = [s for s in result.steps if s.status == "failed"]
    assert "not found" in failed.reason, _steps(result)


def test_eval_reports_rates_over_seeds(demos, tmp_path: Path) -> None:
    from traj.replay import evaluate

    store, ids = demos
    report = evaluate(store, "expense", [SEED, SEED + 2], demo_id=ids["expense"])
    assert report.task_success_rate == 1.0 and report.step_success_rate == 1.0 and report.element_accuracy == 1.0
