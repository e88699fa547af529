"""The replay engine in real Chromium: bundled demos replay, the ladder survives change and ambiguity.

Local pages are served from a temporary directory; each test records a demonstration with
real input and replays it, sometimes after the page has been changed under it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import mouse_click, serve_directory

from traj.browser import launch, record
from traj.eventlog import Store
from traj.projections import Projections, load_demo
from traj.replay import _ladder as ladder
from traj.replay import replay, replay_demo
from traj.sites import SITES, run_script, serve_sites

FORM = """<!doctype html><title>Expenses</title>
{banner}
{decoy}
<form id="{form_id}" class="{cls}" aria-label="Expense report" onsubmit="event.preventDefault(); done()">
  {fields}
  <button type="submit" id="{submit_id}">{submit}</button>
</form>
<p id="out"></p>
<script>
function done() {{
  const f = document.querySelector('form[aria-label="Expense report"]');
  document.getElementById("out").textContent = "Filed " + f.querySelector('[name=amount]').value;
}}
window.traj = {{task: "expense", goal: "File 42.50",
  check: () => ({{success: document.getElementById("out").textContent === "Filed 42.50", detail: ""}})}};
</script>"""

FIELDS = [
    '<label for="{p}who">Employee</label> <input id="{p}who" name="who">',
    '<label for="{p}amount">Amount</label> <input id="{p}amount" name="amount">',
]
DECOY = """<form aria-label="Newsletter" onsubmit="event.preventDefault(); this.dataset.sent = 'yes'">
  <h2>Newsletter</h2>
  <label>Employee <input name="who"></label> <button type="submit">Submit</button>
</form>"""


def page_html(*, mutated: bool = False, ambiguous: bool = False, removed: bool = False, renamed: bool = False) -> str:
    prefix = "x9-" if mutated else ""
    fields = [f.format(p=prefix) for f in FIELDS]
    return FORM.format(
        banner='<div class="cookie"><button>Accept cookies</button></div>' if mutated else "",
        decoy=DECOY if ambiguous else "",
        form_id=f"{prefix}report",
        cls="mutated" if mutated else "plain",
        fields="\n  ".join(reversed(fields) if mutated else fields),
        submit_id=f"{prefix}go",
        submit="" if removed else ("Send" if renamed else "Submit"),
    ).replace(f'<button type="submit" id="{prefix}go"></button>', "")


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "pages"
    root.mkdir()
    (root / "form.html").write_text(page_html())
    with serve_directory(root) as url:
        yield root, f"{url}/form.html"


def file_expense(page) -> None:
    mouse_click(page, "[name=who]")
    page.keyboard.type("Ada", delay=5)
    mouse_click(page, "[name=amount]")
    page.keyboard.type("42.50", delay=5)
    mouse_click(page, "form button[type=submit]")
    page.wait_for_timeout(200)


@pytest.fixture
def recorded(pages, tmp_path: Path) -> tuple[Store, str, Path, str]:
    root, url = pages
    store = Store.open(tmp_path / "store")
    demo = record(store, url, task="expense", demonstrator=file_expense, headless=True, variables={"amount": "42.50"})
    assert demo.success is True
    yield store, demo.demo_id, root, url
    store.close()


def test_a_demo_replays_with_every_step_ok_and_is_recorded_as_a_stream(recorded) -> None:
    store, demo_id, _, _ = recorded
    result = replay(store, demo_id, headless=True)
    assert result.success is True and result.completed
    assert [s.status for s in result.steps] == ["ok"] * len(load_demo(store, demo_id).steps)
    with Projections(store) as projections:
        [row] = projections.query(
            "SELECT demo_id, success, ok_steps, healed_steps, failed_steps FROM replays"
        ).to_pylist()
        steps = projections.query("SELECT step, status, strategy, duration_ms FROM replay_steps ORDER BY step")
    assert row == {"demo_id": demo_id, "success": True, "ok_steps": 5, "healed_steps": 0, "failed_steps": 0}
    assert steps["status"].to_pylist() == ["ok"] * 5 and all(ms > 0 for ms in steps["duration_ms"].to_pylist())


def test_a_mutated_page_is_still_replayed(recorded) -> None:
    store, demo_id, root, _ = recorded
    (root / "form.html").write_text(page_html(mutated=True))  # ids renamed, fields reordered, banner
    result = replay(store, demo_id, headless=True)
    assert result.success is True, result
    assert all(s.status in ("ok", "healed") for s in result.steps)


def test_a_decoy_with_the_same_name_is_never_used(recorded) -> None:
    store, demo_id, root, _ = recorded
    # A Newsletter form before the real one, with the same "Employee" field and "Submit" button.
    (root / "form.html").write_text(page_html(ambiguous=True))
    with launch(headless=True) as session:
        result = replay_demo(store, demo_id, session.page)
        decoy = session.page.locator('form[aria-label="Newsletter"]')
        assert decoy.get_attribute("data-sent") is None  # never submitted
        assert decoy.locator("input").input_value() == ""  # never typed into
    assert result.success is True, result


def test_a_renamed_control_is_not_taken_for_the_recorded_one(recorded) -> None:
    store, demo_id, root, _ = recorded
    (root / "form.html").write_text(page_html(renamed=True))  # the submit button now says "Send"
    result = replay(store, demo_id, headless=True, timeout_s=1.0)
    failed = result.steps[-1]
    assert failed.status == "failed" and result.success is False
    assert "matches 'Send', not 'Submit'" in failed.reason


def test_a_removed_element_fails_with_a_reason_and_a_screenshot(recorded) -> None:
    store, demo_id, root, _ = recorded
    (root / "form.html").write_text(page_html(removed=True))
    result = replay(store, demo_id, headless=True, timeout_s=1.5)
    failed = result.steps[-1]
    assert failed.status == "failed" and result.success is False
    assert "element not found" in failed.reason and "no match" in failed.reason
    with Projections(store) as projections:
        [row] = projections.query(
            "SELECT status, screenshot, reason FROM replay_steps WHERE status = 'failed'"
        ).to_pylist()
    assert store.get_blob(row["screenshot"])[:4] == b"\x89PNG"
    assert row["reason"] == failed.reason


def test_a_healed_step_writes_its_locators_back_and_the_next_replay_uses_them(recorded) -> None:
    store, demo_id, root, _ = recorded
    (root / "form.html").write_text(page_html(ambiguous=True))  # role + name now match two controls
    first = replay(store, demo_id, headless=True)
    assert first.success is True
    healed = [s for s in first.steps if s.status == "healed"]
    assert healed and all(s.strategy not in ("fingerprint", "role") for s in healed)
    demo = load_demo(store, demo_id)
    for step in healed:
        recorded_action = next(d.action for d in demo.steps if d.action_id == step.action_id)
        assert demo.healed[step.action_id] and demo.healed[step.action_id] != recorded_action.locators
    second = replay(store, demo_id, headless=True)
    assert second.success is True
    assert [s.status for s in second.steps] == ["ok"] * len(demo.steps)


def test_a_control_that_shows_while_the_ladder_looks_is_found_by_its_fingerprint_not_healed(
    recorded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under load the fingerprint can look a moment before the page shows the control, and the
    next rung a moment after: the control is the recorded one, so nothing was healed."""
    store, demo_id, root, _ = recorded
    (root / "form.html").write_text(page_html().replace('<button type="submit"', '<button hidden type="submit"'))
    look = ladder.matching_elements

    def page_shows_the_button_right_after(page, fingerprint):
        found = look(page, fingerprint)
        if fingerprint["role"] == "button":
            page.evaluate("() => document.querySelectorAll('button[hidden]').forEach(b => (b.hidden = false))")
        return found

    monkeypatch.setattr(ladder, "matching_elements", page_shows_the_button_right_after)
    result = replay(store, demo_id, headless=True)
    assert result.success is True
    assert [(s.status, s.strategy) for s in result.steps] == [("ok", "fingerprint")] * len(result.steps)


def test_variables_are_substituted(recorded) -> None:
    store, demo_id, _, _ = recorded
    assert set(load_demo(store, demo_id).variables) == {"amount"}
    result = replay(store, demo_id, headless=True, variables={"amount": "13.00"})
    assert result.completed and result.success is False  # the page's goal wants 42.50
    typed = [s for s in result.steps if s.kind == "TYPE"]
    assert len(typed) == 2


@pytest.fixture(scope="module")
def sites() -> Iterator[str]:
    with serve_sites() as server:
        yield server.url


@pytest.mark.parametrize("name", list(SITES))
def test_every_bundled_demo_replays_on_its_own_seed(sites: str, name: str, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store:
        fast = name != "price"  # at real speed the person waits (a WAIT) for the price to drop
        url = SITES[name].start_url(sites, 5, fast=fast)
        demo = record(
            store,
            url,
            task=name,
            seed=5,
            demonstrator=lambda page: run_script(name, page, sites, 5, fast=fast),
            headless=True,
        )
        assert demo.success is True
        result = replay(store, demo.demo_id, headless=True)
    steps = [(s.step, s.kind, s.status, round(s.duration_ms), s.reason) for s in result.steps]
    assert result.success is True, steps
    assert all(s.status == "ok" for s in result.steps), [(s.step, s.status, s.reason) for s in result.steps]
    if name == "price":
        assert "WAIT" in [s.kind for s in result.steps]


def test_the_training_feed_holds_replay_verified_steps_with_query_context_and_target(recorded) -> None:
    from traj.datasets import sdft_items
    from traj.eventlog import Enrichment
    from traj.prompt import RULES

    store, demo_id, _, _ = recorded
    assert list(sdft_items(store)) == []  # nothing is verified before a replay
    demo = load_demo(store, demo_id)
    typed = next(s for s in demo.steps if s.action.kind == "TYPE" and s.action.value == "42.50")
    store.append(
        f"enrich/{demo_id}",
        [
            Enrichment(
                demo_id=demo_id,
                action_id=typed.action_id,
                step_hash="h",
                model="vlm",
                prompt_version="1",
                explanation="The report needs the receipt's total.",
                element_rationale="The Amount field.",
                expected_outcome="The amount is filled in.",
            )
        ],
        expected_seq=0,
    )
    assert replay(store, demo_id, headless=True).success is True
    items = list(sdft_items(store))
    with Projections(store) as projections:
        rows = projections.query("SELECT action_id FROM sdft_examples ORDER BY position").to_pylist()
    assert [i.action_id for i in items] == [r["action_id"] for r in rows] + [demo.finished_id]
    assert json.loads(items[-1].target) == {"kind": "FINISH", "target": None, "value": None}
    assert f"Step {len(demo.steps)}: {{" in items[-1].query.split("Actions so far:")[1], "after every step"
    assert all(i.verified for i in items)
    item = next(i for i in items if i.action_id == typed.action_id)
    assert item.context_source == "enrichment"
    assert json.loads(item.target) == {"kind": "TYPE", "target": typed.action.target, "value": "$1"}  # 42.50
    assert item.query.startswith(RULES) and "Goal: File 42.50\n" in item.query and '"Amount"' in item.query
    assert "Step 1: {" in item.query.split("Actions so far:")[1]  # the history of earlier actions
    assert "Why: The report needs the receipt's total." in item.context  # the teacher's privilege
    assert "Why:" not in item.query
    assert item.teacher_query == item.query.replace(RULES, f"{RULES}\n{item.context}", 1)
