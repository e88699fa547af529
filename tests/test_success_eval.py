"""``traj eval TASK --instances FILE`` on a site traj does not bundle (real Chromium, a page with
no ``window.traj``): each line's goal binds the demo's variables, the demo's success spec
verifies each instance, and the exit status says verified (0), failed (1) or unknown (3).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import mouse_click, serve_directory
from typer.testing import CliRunner

from traj.browser import record
from traj.cli import app
from traj.errors import TrajError
from traj.eventlog import Store
from traj.replay import Instance, evaluate, read_instances

PAGES = Path(__file__).parent / "workflow_pages"
runner = CliRunner()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("pages")
    for page in PAGES.glob("success_*.html"):
        shutil.copy(page, root / page.name)
    with serve_directory(root) as url:
        yield url


def book(page) -> None:
    mouse_click(page, "#guest")
    page.keyboard.type("Ada Lovelace", delay=5)
    mouse_click(page, "#book")
    page.get_by_text("Booking confirmed").wait_for()


def type_only(page) -> None:
    mouse_click(page, "#guest")
    page.keyboard.type("Ada Lovelace", delay=5)


def _demo(home: Path, site: str, demonstrator) -> str:
    with Store.open(home) as store:
        url = f"{site}/success_booking.html"
        return record(
            store, url, task="booking", goal="Book a room for Ada Lovelace", demonstrator=demonstrator, headless=True
        ).demo_id


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_instances_are_bound_from_their_goal_and_verified_by_the_spec(home: Path, site: str, tmp_path: Path) -> None:
    demo_id = _demo(home, site, book)
    instances = _write(
        tmp_path / "instances.jsonl",
        [
            {"url": f"{site}/success_booking.html", "goal": "Book a room for Grace Hopper"},
            "",
            {"url": f"{site}/success_booking.html?full=1", "goal": "Book a room for Alan Turing"},
            {"url": f"{site}/success_booking.html", "goal": "Cancel everything"},  # nothing to bind: no policy
        ],
    )
    with Store.open(home) as store:
        report = evaluate(store, "booking", instances=read_instances(instances))
    assert report.demo_id == demo_id and report.by == "line" and list(report.results) == [1, 3, 4]
    grace, alan = report.results[1], report.results[3]
    assert grace.success is True, grace.reason
    # Every step of the full hotel runs ok; the confirmation for the bound name never comes.
    assert all(s.status == "ok" for s in alan.steps) and alan.success is False
    assert "Booking confirmed for Alan Turing" in alan.reason
    cancel = report.results[4]
    assert cancel.success is False and not cancel.steps and "cannot bind" in cancel.reason
    assert report.outcomes == {"verified": 1, "failed": 2, "unknown": 0} and report.task_success_rate == 1 / 3

    cli = runner.invoke(app, ["eval", "booking", "--instances", str(instances), "--home", str(home)])
    assert cli.exit_code == 1, cli.output
    assert "line 1: success" in cli.stdout and "line 3: failed" in cli.stdout and "line 4: failed" in cli.stdout
    assert "task success 33% (1 verified, 2 failed, 0 unknown)" in cli.stdout


def test_unverifiable_instances_exit_3_and_never_show_step_success(home: Path, site: str, tmp_path: Path) -> None:
    _demo(home, site, type_only)  # the end state says nothing: its spec is empty
    instance = {"url": f"{site}/success_booking.html", "goal": "Book a room for Grace Hopper"}
    instances = _write(tmp_path / "i.jsonl", [instance])
    cli = runner.invoke(app, ["eval", "booking", "--instances", str(instances), "--home", str(home)])
    assert cli.exit_code == 3, cli.output
    assert "line 1: unknown" in cli.stdout and "task success 0% (0 verified, 0 failed, 1 unknown)" in cli.stdout
    assert "step success" not in cli.stdout and "steps ran" not in cli.stdout
    as_json = runner.invoke(app, ["eval", "booking", "--instances", str(instances), "--json", "--home", str(home)])
    assert as_json.exit_code == 3 and json.loads(as_json.stdout)["unknown"] == 1


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("{not json", "not JSON"),
        (json.dumps(["a", "b"]), 'an object with "url" and "goal"'),
        (json.dumps({"url": "file:///etc/passwd", "goal": "x"}), "must be an http(s) URL"),
        (json.dumps({"url": "http://127.0.0.1/", "goal": "  "}), '"goal" must be the task in words'),
        (json.dumps({"url": "http://127.0.0.1/", "goal": "x", "seed": 3}), 'with "url" and "goal" only'),
    ],
)
def test_a_bad_instances_file_is_refused_naming_the_line(tmp_path: Path, home: Path, line: str, complaint: str) -> None:
    path = _write(tmp_path / "bad.jsonl", [{"url": "http://127.0.0.1/", "goal": "fine"}, line])
    with pytest.raises(TrajError, match=f"bad.jsonl:2: .*{complaint[:12]}"):
        read_instances(path)
    cli = runner.invoke(app, ["eval", "booking", "--instances", str(path), "--home", str(home)])
    assert cli.exit_code == 1 and "bad.jsonl:2" in cli.output and not home.exists()


def test_seeds_and_instances_are_one_or_the_other(store: Store) -> None:
    with pytest.raises(TrajError, match="seeds or instances"):
        evaluate(store, "booking", [1], instances=[Instance("http://127.0.0.1/", "x", 1)])
    with pytest.raises(TrajError, match="no instances"):
        read_instances(_write(store.home / "empty.jsonl", [""]))
