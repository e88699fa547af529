"""The action executor in real Chromium: clicks that go ahead at once where the agent saw the
element, Playwright's waits everywhere else, navigations and popups followed."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest

from traj.browser import BrowserSession, Secrets, launch, take_snapshot
from traj.browser._executor import execute_action
from traj.browser._snapshot import action_target
from traj.errors import ActionFailedError, SecretMissingError
from traj.eventlog import Secret

PAGES = {
    "index.html": """<!doctype html><title>Executor</title>
<p>clicks: <output id="count">0</output></p>
<button id="plain" onclick="count.value = Number(count.value) + 1">Count</button>
<button id="off" disabled onclick="count.value = Number(count.value) + 1">Disabled</button>
<div style="position: relative; width: 200px">
  <button id="under" onclick="count.value = Number(count.value) + 1">Covered</button>
  <div style="position: absolute; inset: 0; background: white">cover</div>
</div>
<a id="away" href="other.html">Other page</a>
<a id="tab" href="other.html" target="_blank">Other page in a new tab</a>
<button id="opener" onclick="window.open('other.html')">Open a window</button>
""",
    "other.html": "<!doctype html><title>Other</title><p>the other page</p><button>Back</button>",
}


@pytest.fixture(scope="module")
def session() -> Iterator[BrowserSession]:
    with launch(headless=True) as session:
        yield session


@pytest.fixture
def page(session: BrowserSession, site: str):
    page = session.context.new_page()
    page.goto(f"{site}/index.html")
    yield page
    for other in session.context.pages:
        other.close()


def seen(page, name: str):
    """The element named ``name`` as the agent saw it in a snapshot."""
    [element] = [e for e in take_snapshot(page, screenshot=False).elements if e.name == name]
    return element


def clicks(page) -> int:
    return int(page.locator("#count").text_content())


def test_a_click_where_the_agent_saw_the_element_goes_ahead_and_lands_once(page) -> None:
    button = seen(page, "Count")
    assert action_target(page, button.agent_id, button.bbox).clickable

    execution = execute_action(page, "CLICK", button.agent_id, None, seen_at=button.bbox)

    assert clicks(page) == 1
    assert execution.page is page and execution.page_wait_ms == 0
    assert ("css_id", "#plain") in execution.locators


def test_an_element_that_moved_since_the_agent_saw_it_is_clicked_through_playwrights_checks(page) -> None:
    button = seen(page, "Count")
    elsewhere = msgspec.structs.replace(button.bbox, x=button.bbox.x + 40)
    assert not action_target(page, button.agent_id, elsewhere).clickable
    assert not action_target(page, button.agent_id, None).clickable, "unseen: no shortcut"

    execute_action(page, "CLICK", button.agent_id, None, seen_at=elsewhere)

    assert clicks(page) == 1


@pytest.mark.parametrize("name", ["Disabled", "Covered"])
def test_a_disabled_or_covered_element_is_not_clicked_and_the_error_says_so(page, name: str) -> None:
    element = seen(page, name)
    assert not action_target(page, element.agent_id, element.bbox).clickable

    with pytest.raises(ActionFailedError, match=rf"CLICK \[{element.agent_id}\] failed: .*Timeout") as failed:
        execute_action(page, "CLICK", element.agent_id, None, timeout_s=0.5, seen_at=element.bbox)

    assert clicks(page) == 0
    assert failed.value.locators, "the element was found: its locators are kept for the record"


def test_an_unknown_element_is_an_action_error(page) -> None:
    with pytest.raises(ActionFailedError, match=r"CLICK \[999\] failed: no element with agent id '999'"):
        execute_action(page, "CLICK", "999", None)


def test_a_click_that_navigates_returns_on_the_loaded_document_and_counts_as_page_time(page) -> None:
    link = seen(page, "Other page")

    execution = execute_action(page, "CLICK", link.agent_id, None, seen_at=link.bbox)

    assert execution.page.url.endswith("/other.html")
    assert execution.page.evaluate("document.readyState") == "complete"
    assert execution.page_wait_ms > 0


@pytest.mark.parametrize("name", ["Other page in a new tab", "Open a window"])
def test_a_click_that_opens_a_window_continues_on_it(page, name: str) -> None:
    element = seen(page, name)

    execution = execute_action(page, "CLICK", element.agent_id, None, seen_at=element.bbox)

    assert execution.page is not page
    assert execution.page.url.endswith("/other.html")
    assert "the other page" in take_snapshot(execution.page, screenshot=False).text
    assert page.url.endswith("/index.html"), "the opener stays where it was"


def test_typing_records_the_fields_locators(page) -> None:
    page.set_content('<label>Name <input id="name"></label>')
    field = seen(page, "Name")

    execution = execute_action(page, "TYPE", field.agent_id, "Ada", seen_at=field.bbox)

    assert page.input_value("#name") == "Ada"
    assert ("label", "Name") in execution.locators


SELECTS = """<label>Category <select id="category"><option>Travel</option><option value="os">Office supplies</option>
<option>Client entertainment</option><option>Client gifts</option></select></label>"""


@pytest.mark.parametrize(
    ("value", "chosen"),
    [
        ("Travel", "Travel"),  # the label
        ("os", "os"),  # the value attribute
        ("Office", "os"),  # the one option the words begin, as typing into the select picks it
        ("office", "os"),
    ],
)
def test_a_select_picks_the_option_by_label_value_or_its_first_words(page, value: str, chosen: str) -> None:
    page.set_content(SELECTS)
    field = seen(page, "Category")
    execute_action(page, "SELECT", field.agent_id, value, timeout_s=1)
    assert page.input_value("#category") == chosen


@pytest.mark.parametrize("value", ["Client", "Offi", "Meals"])
def test_a_select_never_guesses_between_options_or_from_part_of_a_word(page, value: str) -> None:
    page.set_content(SELECTS)
    field = seen(page, "Category")
    with pytest.raises(ActionFailedError):
        execute_action(page, "SELECT", field.agent_id, value, timeout_s=1)
    assert page.input_value("#category") == "Travel"


KEYS_AND_DRAGS = """<label>Name <input id="name"></label>
<label><input type="checkbox" id="ok"> Agree</label>
<ul id="list"><li draggable="true">Cook</li><li draggable="true">Buy</li></ul>
<p id="keys"></p>
<script>
document.addEventListener("keydown", (e) => {
  if (e.key === "Shift" || e.key === "Control") return;
  const key = e.key === " " ? "Space" : e.key;
  keys.textContent += [e.ctrlKey && "C", e.shiftKey && "S", key].filter(Boolean).join("+") + ",";
});
let held = null;
list.addEventListener("dragstart", (e) => { held = e.target; e.dataTransfer.setData("text/plain", "x"); });
list.addEventListener("dragover", (e) => e.preventDefault());
list.addEventListener("drop", (e) => { e.preventDefault(); e.target.closest("li").after(held); });
</script>"""


def test_press_sends_the_chord_to_the_element_or_the_focused_one(page) -> None:
    page.set_content(KEYS_AND_DRAGS)
    box = seen(page, "Agree")

    execute_action(page, "PRESS", box.agent_id, "Space")
    execute_action(page, "PRESS", None, "Shift+Tab")
    execute_action(page, "PRESS", None, "ctrl+a")

    assert page.is_checked("#ok")
    assert page.text_content("#keys") == "Space,S+Tab,C+a,"
    assert page.evaluate("document.activeElement.id") == "name"  # Shift+Tab left the checkbox backwards
    with pytest.raises(ActionFailedError, match="unknown key 'Teleport'"):
        execute_action(page, "PRESS", None, "Teleport")


def test_drag_moves_the_element_onto_the_drop_target(page) -> None:
    page.set_content(KEYS_AND_DRAGS)
    cook, buy = (e for e in take_snapshot(page, screenshot=False).elements if e.tag == "li")

    execution = execute_action(page, "DRAG", cook.agent_id, buy.agent_id)

    assert page.eval_on_selector_all("li", "items => items.map(i => i.textContent)") == ["Buy", "Cook"]
    assert ("text", "Cook") in execution.locators


def test_a_secret_is_typed_from_the_environment_and_a_missing_one_does_nothing(page, monkeypatch) -> None:
    page.set_content(KEYS_AND_DRAGS)
    field = seen(page, "Name")
    monkeypatch.delenv("TRAJ_SECRET_LOGIN_NAME", raising=False)

    with pytest.raises(SecretMissingError, match="export TRAJ_SECRET_LOGIN_NAME="):
        execute_action(page, "TYPE", field.agent_id, Secret("login-name"))
    assert page.input_value("#name") == ""
    monkeypatch.setenv("TRAJ_SECRET_LOGIN_NAME", "ada-from-env")
    execute_action(page, "TYPE", field.agent_id, Secret("login-name"))
    assert page.input_value("#name") == "ada-from-env"
    execute_action(page, "TYPE", field.agent_id, Secret("login-name"), secrets=Secrets({"login-name": "given"}))
    assert page.input_value("#name") == "given"
    assert seen(page, "Name").attrs["value"] == "********"  # what the agent sees next, and records


CLICKS = """<!doctype html><title>Clicks</title>
<p id="log"></p>
<button id="cell">Cell</button>
<script>
  const cell = document.getElementById("cell"), log = document.getElementById("log");
  for (const type of ["click", "dblclick", "contextmenu"]) {
    cell.addEventListener(type, (event) => {
      if (type === "contextmenu") event.preventDefault();
      log.textContent += `${type}:${event.detail} `;
    });
  }
</script>"""


@pytest.mark.parametrize(
    ("button", "events"),
    [(None, "click:1"), ("right", "contextmenu:0"), ("double", "click:2 dblclick:2")],
)
def test_a_click_is_the_click_its_value_says(page, button: str | None, events: str) -> None:
    """A plain click, a right-click (the page's context menu), the second click of a double-click
    (click count 2: the one that fires dblclick, which no two plain clicks do)."""
    page.set_content(CLICKS)
    cell = seen(page, "Cell")

    execute_action(page, "CLICK", cell.agent_id, button)

    assert page.text_content("#log").strip() == events
