"""Success specs in real Chromium on a page with no ``window.traj``: derived from the end state
when recorded, given by the user (text, URL, JavaScript), edited afterwards, and reported by
replay and its exit status (0 verified, 1 failed, 3 unknown).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import mouse_click, serve_directory
from typer.testing import CliRunner

from traj.browser import make_success_spec, record
from traj.cli import app
from traj.errors import TrajError
from traj.eventlog import Store, SuccessSpec
from traj.projections import load_demo
from traj.replay import replay, set_success_spec, task_success_spec

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
    """A person books for Ada: types the name, clicks Book, waits for the confirmation."""
    mouse_click(page, "#guest")
    page.keyboard.type("Ada", delay=5)
    mouse_click(page, "#book")
    page.get_by_text("Booking confirmed").wait_for()


def book_and_open_receipt(page) -> None:
    book(page)
    mouse_click(page, "#receipt")
    page.wait_for_url(re.compile(r"success_receipt\.html$"))


def type_only(page) -> None:
    """Types the name and stops: nothing on the page says whether that was the task."""
    mouse_click(page, "#guest")
    page.keyboard.type("Ada", delay=5)


def _record(store: Store, site: str, demonstrator, **kwargs) -> str:
    url = f"{site}/success_booking.html"
    demo = record(
        store, url, task="booking", goal="Book a room for Ada", demonstrator=demonstrator, headless=True, **kwargs
    )
    return demo.demo_id


def test_the_end_state_becomes_the_spec_on_a_page_without_window_traj(store: Store, site: str) -> None:
    demo_id = _record(store, site, book, variables={"guest": "Ada"})
    demo = load_demo(store, demo_id)
    assert demo.success is None  # the page states no predicate of its own
    # The confirmation that appeared after the last click, the typed name as its variable; the
    # reference (a number that differs on every booking) is left out; the URL never changed.
    assert demo.success_spec == SuccessSpec(texts=["Booking confirmed for {guest}"])

    same = replay(store, demo_id, headless=True, heal=False)
    assert same.success is True and same.reason == ""
    other = replay(store, demo_id, variables={"guest": "Grace"}, headless=True, heal=False)
    assert other.success is True, other.reason


def test_every_step_ok_while_the_task_fails_is_a_failure(store: Store, site: str, home: Path) -> None:
    demo_id = _record(store, site, book, variables={"guest": "Ada"})
    full = f"{site}/success_booking.html?full=1"  # same controls; the booking does not happen
    result = replay(store, demo_id, url=full, headless=True, heal=False)
    assert [s.status for s in result.steps] == ["ok"] * len(result.steps) and result.completed
    assert result.success is False
    assert "Booking confirmed for Ada" in result.reason
    store.close()

    cli = runner.invoke(
        app, ["replay", demo_id, "--url", full, "--headless", "--no-heal", "--json", "--home", str(home)]
    )
    assert cli.exit_code == 1, cli.output
    assert json.loads(cli.stdout)["success"] is False


def test_an_end_state_that_says_nothing_is_unknown_and_exits_3(store: Store, site: str, home: Path) -> None:
    demo_id = _record(store, site, type_only)
    assert load_demo(store, demo_id).success_spec == SuccessSpec()  # no new text, same URL: nothing to check
    result = replay(store, demo_id, headless=True, heal=False)
    assert result.completed and result.success is None and "no success spec" in result.reason
    store.close()

    cli = runner.invoke(app, ["replay", demo_id, "--headless", "--no-heal", "--home", str(home)])
    assert cli.exit_code == 3, cli.output
    assert "success unknown" in cli.stdout and "succeeded" not in cli.stdout


def test_the_url_reached_is_part_of_the_spec(store: Store, site: str) -> None:
    demo_id = _record(store, site, book_and_open_receipt, variables={"guest": "Ada"})
    spec = load_demo(store, demo_id).success_spec
    assert spec is not None and spec.texts == ["Your receipt", "Thank you for staying with us."]
    assert re.search(spec.url, f"{site}/success_receipt.html")
    assert not re.search(spec.url, f"{site}/success_booking.html")
    assert replay(store, demo_id, headless=True, heal=False).success is True


@pytest.mark.parametrize(
    ("given", "on_the_full_hotel"),
    [
        (make_success_spec(texts=["booking confirmed for {guest}"]), "does not show"),
        (make_success_spec(js="document.getElementById('out').dataset.state === 'booked'"), "is false"),
        (make_success_spec(url=r"success_booking\.html$"), "does not match"),  # the full hotel's URL has ?full=1
    ],
    ids=["text", "js", "url"],
)
def test_a_given_spec_replaces_the_derived_one(
    store: Store, site: str, given: SuccessSpec, on_the_full_hotel: str
) -> None:
    demo_id = _record(store, site, book, variables={"guest": "Ada"}, success_spec=given)
    assert load_demo(store, demo_id).success_spec == given
    assert replay(store, demo_id, headless=True, heal=False).success is True
    full = replay(store, demo_id, url=f"{site}/success_booking.html?full=1", headless=True, heal=False)
    assert full.success is False and on_the_full_hotel in full.reason


def test_record_cli_takes_the_spec_and_demos_success_edits_it(site: str, home: Path, tmp_path: Path) -> None:
    script = tmp_path / "book.py"
    script.write_text(
        "def demonstrate(page):\n"
        "    page.locator('#guest').click()\n"
        "    page.keyboard.type('Ada', delay=5)\n"
        "    page.locator('#book').click()\n"
        "    page.get_by_text('Booking confirmed').wait_for()\n"
    )
    where = ["--home", str(home)]
    url = f"{site}/success_booking.html"
    bad = runner.invoke(
        app, ["record", "--url", url, "--task", "booking", "--goal", "Book", "--success-url", "(", *where]
    )
    assert bad.exit_code == 1 and "not a regular expression" in bad.output and not (home / "wal").exists()

    recorded = runner.invoke(
        app,
        [
            "record",
            "--url",
            url,
            "--task",
            "booking",
            "--goal",
            "Book a room for Ada",
            "--script",
            str(script),
            "--headless",
            "--success-text",
            "Booking confirmed",
            *where,
        ],
    )
    assert recorded.exit_code == 0, recorded.output
    [demo] = [json.loads(line) for line in runner.invoke(app, ["demos", "--json", *where]).stdout.splitlines()]
    shown = runner.invoke(app, ["demos", "success", demo["demo_id"], "--json", *where])
    assert json.loads(shown.stdout)["texts"] == ["Booking confirmed"]
    assert runner.invoke(app, ["replay", demo["demo_id"], "--headless", *where]).exit_code == 0

    edited = runner.invoke(app, ["demos", "success", demo["demo_id"], "--js", "document.title === 'Receipt'", *where])
    assert edited.exit_code == 0 and "'Receipt'" in edited.stdout
    again = runner.invoke(app, ["replay", demo["demo_id"], "--headless", "--json", *where])
    assert again.exit_code == 1 and "is false" in json.loads(again.stdout)["reason"]


def test_editing_an_unknown_demo_is_refused(store: Store) -> None:
    with pytest.raises(TrajError, match="no demonstration"):
        set_success_spec(store, "nope", SuccessSpec(texts=["x"]))
    assert store.events() == []


def test_a_site_that_moved_is_followed_by_the_steps_that_navigate(store: Store, tmp_path: Path) -> None:
    """Recorded on one port, replayed after that server is gone on another: the recorded
    navigation to the receipt goes to the new place, and the end state is verified there."""
    root = tmp_path / "pages"
    root.mkdir()
    for page in PAGES.glob("success_*.html"):
        shutil.copy(page, root / page.name)
    with serve_directory(root) as first:
        demo_id = _record(store, first, book_and_open_receipt, variables={"guest": "Ada"})
    steps = load_demo(store, demo_id).steps
    assert any(s.action.kind == "NAVIGATE" and (s.action.value or "").startswith(first) for s in steps)
    with serve_directory(root) as second:
        result = replay(store, demo_id, url=f"{second}/success_booking.html", headless=True, heal=False)
    assert [s.status for s in result.steps] == ["ok"] * len(steps) and result.success is True, result.reason


def answer(page) -> None:
    """A person clicks the answer the goal asks for, "yes"."""
    mouse_click(page, "#answers button:nth-of-type(1)")
    page.get_by_text("Answer recorded").wait_for()


def test_an_end_that_looks_the_same_for_any_value_confirms_only_what_the_replay_checked(
    store: Store, site: str
) -> None:
    """Every answer ends in "Answer recorded". A replay bound to the instance's goal clicked the
    control that goal names (found by that name), so the end confirms it; on another instance
    without its goal the demonstrated answer is clicked and nothing says it was the one asked:
    unknown, never success. The agent picks its own control: a derived spec cannot confirm it."""
    url = f"{site}/success_answer.html"
    demo_id = record(
        store, url, task="answer", goal='Click the "yes" button', demonstrator=answer, headless=True
    ).demo_id
    demo = load_demo(store, demo_id)
    assert demo.defaults == {"button": "yes"} and demo.success_source == "derived"
    assert demo.success_spec == SuccessSpec(texts=["Answer recorded. Thank you!"])

    assert replay(store, demo_id, headless=True, heal=False).success is True
    bound = replay(store, demo_id, url=f"{url}?ask=no", goal='Click the "no" button', headless=True, heal=False)
    assert bound.success is True, bound.reason
    unbound = replay(store, demo_id, url=f"{url}?ask=no", headless=True, heal=False)  # clicks "yes": wrong
    assert unbound.completed and unbound.success is None and "button" in unbound.reason
    more = 'Click the "no" button twice'  # given values, but a goal that asks more than the demo did
    reworded = replay(store, demo_id, url=f"{url}?ask=no", goal=more, variables={"button": "no"}, headless=True)
    assert reworded.completed and reworded.success is None and "goal" in reworded.reason
    assert task_success_spec(store, "answer") is None

    set_success_spec(store, demo_id, make_success_spec(js="document.body.dataset.right === 'true'"))
    stated = replay(store, demo_id, url=f"{url}?ask=no", headless=True)
    assert stated.success is False and "is false" in stated.reason
