"""The recorder's writer: events reach the store off Playwright's thread, in order, exactly once.

A demonstrator's input call must not wait for the store (its fsync was added to every
recorded input); the events must still be exactly the reports, in the order the page saw
the input, durable by the time ``finish()`` writes ``demo.finished``, and a failed write
must be reported, never dropped. Real Chromium, a real store; a store write is held back
(or made to fail as a full disk does) by wrapping the store's own calls.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from traj.browser import Recorder, launch, record
from traj.errors import BrowserError
from traj.eventlog import Store

KEYS = 24

PAGES = {
    "keys.html": """<!doctype html><title>Keypad</title>
<div id="pad" style="display: grid; grid-template-columns: repeat(6, 120px); gap: 8px">"""
    + "".join(f"<button>Key {n}</button>" for n in range(KEYS))
    + """</div>
<script>
window.pressedLog = [];
document.addEventListener("click", (e) => {
  if (e.isTrusted && e.target.tagName === "BUTTON") window.pressedLog.push(e.target.textContent);
}, true);
window.traj = {task: "keypad", goal: "Press keys"};
</script>""",
}


def press_keys(page: Any, order: list[int]) -> list[str]:
    """Click the keys in ``order`` as fast as Playwright goes; returns the page's own log of clicks."""
    boxes = [page.get_by_role("button", name=f"Key {n}", exact=True).bounding_box() for n in order]
    for box in boxes:
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    return list(page.evaluate("window.pressedLog"))


def clicked_names(events: list[Any]) -> list[str]:
    """The name of the element each recorded CLICK names, looked up in the observation it was decided in."""
    by_id = {e.event_id: e for e in events}
    names = []
    for action in (e.data for e in events if e.type == "action" and e.data.kind == "CLICK"):
        elements = {el.agent_id: el for el in by_id[action.observation_id].data.elements}
        names.append(elements[action.target].name)
    return names


def test_a_burst_of_clicks_is_recorded_once_each_in_order_while_the_store_is_held_back(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = threading.Event()  # set: the store writes again (at the latest 10 s on, so a recorder that waits fails fast)
    real_append = Store.append

    def held_back_append(self: Store, *args: Any, **kwargs: Any) -> Any:
        held.wait(timeout=max(0.0, release_at - time.monotonic()))
        return real_append(self, *args, **kwargs)

    order = random.Random(21).sample(range(KEYS), KEYS)
    with Store.open(tmp_path / "store") as store, launch(headless=True) as session:
        recorder = Recorder(store, session.context, task="keypad", goal="Press keys", url=f"{site}/keys.html")
        page = recorder.start(session.page)
        recorder.drain()
        release_at = time.monotonic() + 10
        monkeypatch.setattr(Store, "append", held_back_append)
        page_log = press_keys(page, order)
        # Every click returned while not one of its events could be written: the input did not wait for the store.
        assert [e.type for e in store.events() if e.stream == recorder.stream] == ["demo.started"]
        held.set()
        demo = recorder.finish()
        events = [e for e in store.events() if e.stream == recorder.stream]

    assert page_log == [f"Key {n}" for n in order]
    assert clicked_names(events) == page_log
    assert demo.actions == KEYS
    assert len({e.event_id for e in events}) == len(events)
    assert [e.seq for e in events] == list(range(len(events)))
    assert [e.type for e in events][-2:] == ["demo.success", "demo.finished"]
    assert [e.data.step for e in events if e.type == "action"] == list(range(KEYS))
    for observation in (e for e in events if e.type == "observation"):  # each cited screenshot was stored first
        assert observation.blobs == (observation.data.screenshot,)
        assert store_blob_is_png(tmp_path / "store", observation.data.screenshot)


def store_blob_is_png(home: Path, digest: str) -> bool:
    with Store.open(home, readonly=True) as store:
        return store.get_blob(digest)[:8] == b"\x89PNG\r\n\x1a\n"


def test_finish_right_after_a_burst_writes_every_event_before_demo_finished(site: str, tmp_path: Path) -> None:
    order = random.Random(7).sample(range(KEYS), KEYS)
    page_log: list[str] = []
    home = tmp_path / "store"
    with Store.open(home) as store:
        demo = record(
            store,
            f"{site}/keys.html",
            task="keypad",
            goal="Press keys",
            demonstrator=lambda page: page_log.extend(press_keys(page, order)),
            headless=True,
        )
    with Store.open(home, readonly=True) as store:
        events = [e for e in store.events() if e.stream == demo.stream]
    assert clicked_names(events) == page_log == [f"Key {n}" for n in order]
    assert events[-1].type == "demo.finished"
    assert [e.seq for e in events] == list(range(len(events)))


def test_a_failed_write_is_reported_at_once_and_by_finish_and_nothing_after_it_is_written(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fill_the_disk_midway(page: Any) -> None:
        press_keys(page, [0, 1])
        page.wait_for_timeout(300)  # those two are written
        monkeypatch.setattr(os, "fdatasync", disk_full)
        press_keys(page, [2, 3, 4])

    home = tmp_path / "store"
    caplog.set_level(logging.ERROR)
    with Store.open(home) as store, pytest.raises(BrowserError) as raised:
        record(
            store,
            f"{site}/keys.html",
            task="keypad",
            goal="Press keys",
            demonstrator=fill_the_disk_midway,
            headless=True,
        )
    monkeypatch.undo()
    message = str(raised.value)
    assert message.startswith("recording demo ") and "No space left on device" in message
    assert "\n" not in message
    assert any("No space left on device" in record.getMessage() for record in caplog.records)
    with Store.open(home) as store:  # reopening recovers the WAL: what was durable before the failure stays
        events = list(store.events())
    assert events[0].type == "demo.started"
    assert "demo.finished" not in [e.type for e in events]
    # The failed batch (Key 2) was written but never acknowledged: a reopen may keep it. Nothing after it was written.
    names = clicked_names(events)
    assert names in (["Key 0", "Key 1"], ["Key 0", "Key 1", "Key 2"])


def test_a_demonstrator_that_fails_leaves_every_event_reported_before_it_in_the_store(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_append = Store.append

    def slow_append(self: Store, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.1)  # a slow disk: the events of the clicks are still queued when the demonstrator fails
        return real_append(self, *args, **kwargs)

    def fail_after_three_keys(page: Any) -> None:
        monkeypatch.setattr(Store, "append", slow_append)
        press_keys(page, [3, 1, 4])
        raise BrowserError("the demonstrator gave up")

    home = tmp_path / "store"
    with Store.open(home) as store, pytest.raises(BrowserError, match="gave up"):
        record(
            store,
            f"{site}/keys.html",
            task="keypad",
            goal="Press keys",
            demonstrator=fail_after_three_keys,
            headless=True,
        )
    monkeypatch.undo()
    with Store.open(home, readonly=True) as store:
        events = list(store.events())
    assert clicked_names(events) == ["Key 3", "Key 1", "Key 4"]
    assert "demo.finished" not in [e.type for e in events]
