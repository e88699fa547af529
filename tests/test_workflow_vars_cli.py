"""``traj replay --goal``, an unknown ``--var`` and ``traj demos vars`` on the command line (issue 22).

A module of its own: the commands launch their own Chromium, which cannot run beside a
module-wide one in the same thread.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import serve_directory
from typer.testing import CliRunner

from traj.browser import record
from traj.cli import app
from traj.eventlog import Store
from traj.projections import load_demo
from traj.replay import bind_goal

PAGES = Path(__file__).parent / "workflow_pages"
runner = CliRunner()


@pytest.fixture(scope="module")
def buttons() -> Iterator[str]:
    with serve_directory(PAGES) as url:
        yield f"{url}/vars_buttons.html"


def instance(page: str, items: list[str], pick: str) -> str:
    return f"{page}?{urllib.parse.urlencode([('item', item) for item in items] + [('pick', pick)])}"


def test_the_cli_binds_a_goal_refuses_unknown_vars_and_edits_variables(home: Path, buttons: str) -> None:
    with Store.open(home) as store:
        demo_id = record(
            store,
            instance(buttons, ["yes", "no", "maybe"], "no"),
            task="vars_buttons",
            goal="Click the 'no' button",
            demonstrator=lambda page: page.get_by_role("button", name="no", exact=True).click(),
            headless=True,
            screenshots=False,
        ).demo_id
    at = ["--home", str(home)]

    done = runner.invoke(app, ["replay", demo_id, *at, "--url", instance(buttons, ["maybe", "yes", "no"], "maybe"),
                               "--goal", "Click the 'maybe' button", "--no-heal", "--json"])  # fmt: skip
    result = next(json.loads(line) for line in done.stdout.splitlines() if line.startswith("{"))
    assert done.exit_code == 0 and result["success"] is True, done.output  # the page's check: "maybe" was clicked

    unknown = runner.invoke(app, ["replay", demo_id, *at, "--var", "buton=no"])
    assert unknown.exit_code == 1 and "has no variable buton (its variables: button)" in unknown.output
    unbound = runner.invoke(app, ["replay", demo_id, *at, "--goal", "Press maybe"])
    assert unbound.exit_code == 1 and "cannot bind button from the goal 'Press maybe'" in unbound.output

    listed = json.loads(runner.invoke(app, ["demos", "vars", demo_id, *at, "--json"]).stdout)
    assert listed["template"] == "Click the '{button}' button"
    assert listed["variables"] == [{"name": "button", "value": "no", "steps": [0], "options": ["yes", "no", "maybe"]}]
    renamed = json.loads(
        runner.invoke(app, ["demos", "vars", demo_id, *at, "--rename", "button=answer", "--json"]).stdout
    )
    assert renamed["template"] == "Click the '{answer}' button"
    refused = runner.invoke(app, ["demos", "vars", demo_id, *at, "--drop", "button"])
    assert refused.exit_code == 1 and "has no variable button (its variables: answer)" in refused.output
    with Store.open(home, readonly=True) as store:
        assert bind_goal(load_demo(store, demo_id), "Click the 'yes' button") == {"answer": "yes"}
    dropped = json.loads(runner.invoke(app, ["demos", "vars", demo_id, *at, "--drop", "answer", "--json"]).stdout)
    assert dropped["variables"] == [] and "traj demos" in runner.invoke(app, ["demos", "--help"]).output


def test_a_bundled_demo_replays_after_the_server_it_was_recorded_on_is_gone(store: Store) -> None:
    """The replay serves the sites afresh (another port): the demo's recorded navigations follow."""
    from traj.replay import replay
    from traj.sites import SCRIPTS, SITES, serve_sites

    with serve_sites() as server:
        url, recorded_on = SITES["calendar"].start_url(server.url, 0, fast=True), server.url
        demo_id = record(store, url, task="calendar", demonstrator=SCRIPTS["calendar"], headless=True).demo_id
    result = replay(store, demo_id, seed=4, headless=True, heal=False, timeout_s=5.0)
    (started,) = store.events(stream=f"replay/{result.replay_id}", types=["replay.started"])
    assert "seed=4" in started.data.url and recorded_on not in started.data.url  # the seed asked, on the new server
    assert result.success is True, [(s.step, s.kind, s.status, s.reason) for s in result.steps]
