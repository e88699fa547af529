"""When the recorder takes the page for at rest (and screenshots it): never while the person is mid-input.

A ``<select>`` opened by a press lists its options in a popup of the browser's own, and
the keys typed there to pick an option never reach the page: they could not postpone the
rest, so a rest (a snapshot and a screenshot) was taken between them, slowing the popup's
response to the next key. The page below logs its own view of the input and every rest the
recorder reports (through the binding it calls); real Chromium, real keyboard.
"""

from __future__ import annotations

from pathlib import Path

from traj.browser import launch
from traj.browser._recorder import Recorder
from traj.eventlog import Store

PAGES = {
    "expense.html": """<!doctype html><title>Expense</title>
<label>Category <select id="category">
  <option>Meals</option><option>Office supplies</option><option>Travel</option><option>Training</option>
</select></label>
<script>
window.log = [];
for (const type of ["pointerdown", "change"]) {
  document.addEventListener(type, () => log.push([type, performance.now()]), true);
}
addEventListener("load", () => {  // the recorder's binding is there by now: log each rest it reports
  const report = window.__trajSettled;
  window.__trajSettled = (...args) => { log.push(["rest", performance.now()]); return report(...args); };
});
</script>""",
}


def test_no_rest_is_taken_while_a_person_picks_from_an_open_select_by_typing(site: str, tmp_path: Path) -> None:
    with Store.open(tmp_path / "store") as store, launch(headless=True) as session:
        recorder = Recorder(store, session.context, task="expense", goal="Pick Travel", url=f"{site}/expense.html")
        page = recorder.start(session.page)
        box = page.locator("#category").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # opens the options popup
        page.keyboard.type("Trav", delay=250)  # slower than the recorder's 150 ms of quiet before a rest
        page.keyboard.press("Enter")
        page.wait_for_timeout(600)
        log = page.evaluate("window.log")
        demo = recorder.finish()
        steps = [(e.data.kind, e.data.value) for e in store.events() if e.type == "action"]

    assert steps == [("SELECT", "Travel")]  # the press that opened the select is no step of its own
    assert demo.actions == 1
    kinds = [kind for kind, _ in log]
    pressed, changed = kinds.index("pointerdown"), kinds.index("change")
    assert "rest" not in kinds[pressed:changed]  # the typing into the popup took > 1 s: no rest in it
    assert "rest" in kinds[changed:]  # once the option is chosen, the page comes to rest again
