"""The recorder in real Chromium: what a demonstration's events hold.

Pages are served from a temporary directory on 127.0.0.1; the demonstrators use only real
mouse and keyboard input, so the recorder sees exactly what it would see from a person.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from traj.browser import launch, record
from traj.browser._recorder import Recorder
from traj.eventlog import Store
from traj.projections import Projections

PAGES = {
    "form.html": """<!doctype html><title>Sign up</title>
<h1>Sign up</h1>
<form action="done.html" method="get">
  <label for="name">Full name</label> <input id="name" name="name">
  <input name="email" placeholder="Email address">
  <select name="country" aria-label="Country">
    <option>France</option><option>Japan</option><option>Peru</option>
  </select>
  <textarea name="bio" aria-label="About you"></textarea>
  <button type="submit" data-testid="go">Create account</button>
</form>""",
    "done.html": """<!doctype html><title>Welcome</title><p>Thanks, your account is ready.</p>
<script>
window.traj = {task: "signup", goal: "Sign up",
               check: () => ({success: location.search.includes("name=Ada"), detail: location.search})};
</script>""",
    "slow.html": """<!doctype html><title>Report</title>
<button id="load">Load report</button><div id="out"></div>
<script>
document.getElementById("load").onclick = () => {
  let n = 0;
  const tick = setInterval(() => {
    document.getElementById("out").textContent = "loading " + (++n);
    if (n === 8) {
      clearInterval(tick);
      document.getElementById("out").innerHTML = '<button id="dl">Download</button>';
    }
  }, 300);
};
</script>""",
    "auto.html": """<!doctype html><title>Auto</title><p>Moving on...</p>
<script>setTimeout(() => { location.href = "done.html"; }, 400);</script>""",
    "long.html": """<!doctype html><title>Long</title>
<a href="done.html" target="_blank">Open in new tab</a>
<div style="height: 3000px">tall</div><button>Bottom</button>""",
}


def click(page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def fill_signup(page) -> None:
    click(page, "#name")
    page.keyboard.type("Ada Lovelace", delay=15)
    click(page, "input[name=email]")
    page.keyboard.type("ada@example.org", delay=10)
    page.keyboard.press("Tab")  # focus moves to the select: keyboard changes it, as a person would
    page.keyboard.press("ArrowDown")
    click(page, "textarea")
    page.keyboard.type("I write programs.", delay=5)
    click(page, "input[name=email]")
    page.keyboard.press("Enter")
    page.wait_for_url("**/done.html**")


def stream_events(store: Store, stream: str) -> list:
    return [e for e in store.events() if e.stream == stream]


@pytest.fixture(scope="module")
def signup(site: str, tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("store") / "store"
    with Store.open(home) as store:
        demo = record(
            store, f"{site}/form.html", task="signup", goal="Sign up as Ada", demonstrator=fill_signup, headless=True
        )
        events = stream_events(store, demo.stream)
    return home, demo, events


def test_a_demo_is_observation_action_pairs_closed_by_a_final_observation(signup) -> None:
    _, demo, events = signup
    types = [e.type for e in events]
    assert types[0] == "demo.started" and types[-2:] == ["demo.success", "demo.finished"]
    assert events[-2].data.spec.page_check  # done.html states its own predicate: that is the spec
    body = types[1:-2]
    assert body[-1] == "observation"
    pairs = body[:-1]
    assert pairs == ["observation", "action"] * (len(pairs) // 2)
    actions = [e for e in events if e.type == "action"]
    assert len(actions) == demo.actions
    for observation, action in zip(events[1:-3:2], events[2:-2:2], strict=True):
        assert action.data.observation_id == observation.event_id
        assert action.data.step == observation.data.step
    assert [a.data.step for a in actions] == list(range(len(actions)))
    assert events[-1].data.success is True  # done.html's predicate saw name=Ada...


def test_keystrokes_are_coalesced_into_one_type_with_the_final_value(signup) -> None:
    _, _, events = signup
    typed = [(a.data.kind, a.data.value) for a in events if a.type == "action" and a.data.kind == "TYPE"]
    assert typed == [("TYPE", "Ada Lovelace"), ("TYPE", "ada@example.org"), ("TYPE", "I write programs.")]


def test_select_enter_and_navigation_are_captured(signup) -> None:
    _, _, events = signup
    kinds = [(a.data.kind, a.data.value) for a in events if a.type == "action"]
    assert ("SELECT", "Japan") in kinds
    enter = kinds.index(("PRESS_ENTER", None))
    navigate = [i for i, (kind, value) in enumerate(kinds) if kind == "NAVIGATE"]
    assert navigate and navigate[0] > enter
    assert "/done.html?name=Ada+Lovelace" in kinds[navigate[0]][1]


def test_the_observation_before_an_action_shows_the_state_before_it(signup) -> None:
    _, _, events = signup
    by_id = {e.event_id: e for e in events}
    for action in (e for e in events if e.type == "action" and e.data.kind == "TYPE"):
        observation = by_id[action.data.observation_id]
        target = next(el for el in observation.data.elements if el.agent_id == action.data.target)
        # The field was empty when the person decided to type into it.
        assert target.attrs.get("value", "") == ""
    enter = next(e for e in events if e.type == "action" and e.data.kind == "PRESS_ENTER")
    page_before = by_id[enter.data.observation_id].data
    assert page_before.url.endswith("/form.html")
    values = {el.attrs.get("name"): el.attrs.get("value") for el in page_before.elements}
    assert values["name"] == "Ada Lovelace" and values["email"] == "ada@example.org"


def test_every_action_on_an_element_names_it_and_carries_ranked_locators(signup) -> None:
    _, _, events = signup
    by_id = {e.event_id: e for e in events}
    for action in (e.data for e in events if e.type == "action" and e.data.kind in ("CLICK", "TYPE", "SELECT")):
        elements = {el.agent_id: el for el in by_id[action.observation_id].data.elements}
        assert action.target in elements, action
        assert action.locators, action
        strategies = [strategy for strategy, _ in action.locators]
        assert len(set(strategies)) == len(strategies)


def test_screenshots_are_deduplicated_blobs_referenced_by_observations(signup) -> None:
    home, _, events = signup
    observations = [e for e in events if e.type == "observation"]
    digests = [o.data.screenshot for o in observations]
    assert all(digests)
    for observation in observations:
        assert observation.blobs == (observation.data.screenshot,)
    with Store.open(home, readonly=True) as store:
        for digest in set(digests):
            assert store.get_blob(digest)[:8] == b"\x89PNG\r\n\x1a\n"
    stored = list((home / "blobs" / "sha256").rglob("*"))
    assert len([p for p in stored if p.is_file()]) == len(set(digests))
    assert len(set(digests)) < len(digests)  # an unchanged page is stored once


def test_steps_projection_groups_recorded_steps_by_task(signup) -> None:
    home, demo, _ = signup
    with Store.open(home, readonly=True) as store, Projections(store) as projections:
        rows = projections.query("select task, count(*) AS n from steps group by task").to_pylist()
        demos = projections.query("SELECT demo_id, task, source, success, steps FROM demos").to_pylist()
    assert rows == [{"task": "signup", "n": demo.actions}]
    assert demos == [
        {"demo_id": demo.demo_id, "task": "signup", "source": "script", "success": True, "steps": demo.actions}
    ]


def test_a_pause_while_the_page_works_is_recorded_as_wait(site: str, tmp_path: Path) -> None:
    def demonstrate(page) -> None:
        click(page, "#load")
        page.locator("#dl").wait_for(timeout=10_000)
        click(page, "#dl")

    with Store.open(tmp_path / "store") as store:
        demo = record(
            store,
            f"{site}/slow.html",
            task="report",
            goal="Download the report",
            demonstrator=demonstrate,
            headless=True,
        )
        kinds = [e.data.kind for e in stream_events(store, demo.stream) if e.type == "action"]
    assert kinds == ["CLICK", "WAIT", "CLICK"]


def test_user_scrolls_and_new_tabs_are_recorded_and_the_tab_is_followed(site: str, tmp_path: Path) -> None:
    def demonstrate(page) -> None:
        page.mouse.move(400, 400)
        page.mouse.wheel(0, 1500)
        page.wait_for_timeout(600)
        page.mouse.wheel(0, -1500)
        page.wait_for_timeout(600)
        with page.context.expect_page() as popup:
            click(page, "a")
        popup.value.wait_for_load_state()
        popup.value.wait_for_timeout(300)

    with Store.open(tmp_path / "store") as store:
        demo = record(
            store, f"{site}/long.html", task="browse", goal="Open the link", demonstrator=demonstrate, headless=True
        )
        events = stream_events(store, demo.stream)
    actions = [(e.data.kind, e.data.value) for e in events if e.type == "action"]
    scrolls = [value for kind, value in actions if kind == "SCROLL"]
    assert len(scrolls) == 2 and scrolls[0] != "0,0" and scrolls[1] == "0,0"
    assert ("CLICK", None) in actions
    assert any(kind == "NAVIGATE" and value.startswith("popup:") for kind, value in actions)
    assert events[-3].type == "observation" and events[-3].data.url.endswith("/done.html")  # followed the tab
    assert events[-1].data.success is False  # the new tab's own predicate answered (no name=Ada there)


def test_a_recording_cut_short_leaves_a_readable_unfinished_demo(site: str, tmp_path: Path) -> None:
    home = tmp_path / "store"
    with Store.open(home) as store, launch(headless=True) as session:
        recorder = Recorder(store, session.context, task="signup", goal="Sign up", url=f"{site}/form.html")
        page = recorder.start(session.page)
        click(page, "#name")
        page.keyboard.type("Ada", delay=10)
        click(page, "textarea")
        page.wait_for_timeout(200)
        # The process dies here: no finish(), no demo.finished.
    with Store.open(home, readonly=True) as store, Projections(store) as projections:
        [row] = projections.query("SELECT finished_at, success, steps FROM demos").to_pylist()
        assert row == {"finished_at": None, "success": None, "steps": 3}
        kinds = [(e.data.kind, e.data.value) for e in store.events() if e.type == "action"]
    assert kinds == [("CLICK", None), ("TYPE", "Ada"), ("CLICK", None)]


def test_an_unknown_chromium_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from traj.errors import BrowserError

    monkeypatch.setenv("TRAJ_CHROMIUM", str(tmp_path / "nope"))
    with pytest.raises(BrowserError, match="TRAJ_CHROMIUM"), launch(headless=True):
        pass


def test_a_headed_session_without_a_display_says_how_to_fix_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from traj.errors import BrowserError

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(BrowserError, match="--headless"), launch(headless=False):
        pass


def test_a_persons_recording_ends_when_the_page_reaches_until_url(site: str, tmp_path: Path) -> None:
    # No demonstrator: the recorder waits for a person. The page moves on by itself.
    with Store.open(tmp_path / "store") as store:
        demo = record(
            store,
            f"{site}/auto.html",
            task="auto",
            goal="Wait for the page",
            headless=True,
            until_url=r"done\.html",
        )
        [finished] = [e for e in store.events() if e.type == "demo.finished"]
    assert finished.data.reason.startswith("reached ") and finished.data.reason.endswith("done.html")
    assert demo.actions == 1  # the page's own navigation, recorded as NAVIGATE


def test_a_persons_recording_ends_when_the_page_shows_until_text(site: str, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store:
        record(store, f"{site}/slow.html", task="t", goal="g", headless=True, until_text="Load report")
        [finished] = [e for e in store.events() if e.type == "demo.finished"]
    assert finished.data.reason == "the page shows 'Load report'"
