"""The widget zoo: small pages nobody tuned the recorder for, one input pattern each.

API (tests/test_zoo.py and bench/capture.py use only this):
- ``PAGES``: every page's name; a page is ``tests/zoo/<name>.html`` plus its script module
  ``tests/zoo/<name>.py`` (found automatically: add both files and the page is in the zoo).
- A page defines ``window.zooDone()`` -> true once its task is done (read on every open page).
- A script module defines ``demonstrate(page)`` (real mouse and keyboard input, or Playwright's
  input methods), ``STEPS``: the ``Step``s a correct recording holds, and optionally
  ``WARNINGS`` (substrings the recorder must warn with), ``REPLAYABLE = False`` (with why) and
  ``SECRETS`` (name -> value: what replay types for the demo's ``{"secret": name}`` values).
- ``Step(kind, target, value, before)``: target is ``'role "name"'`` (``'tag "name"'`` without a
  role) of the element in the observation before the step; value a str, None, ``re.Pattern`` or a
  ``Secret`` (a DRAG's value names its drop target like ``target``); before: attributes that
  element had then (e.g. ``{"checked": "false"}``).
- ``serve()``: context manager, the zoo on 127.0.0.1, yields its base URL.
- ``capture(store, name, url)`` -> ``Capture``: records the page's demonstration; ``.mismatches``
  lists every difference from ``STEPS`` and ``WARNINGS`` (empty: captured exactly); ``.correct``
  of ``.total`` checks held (a step each, more when extra steps were recorded, one for warnings).
- ``replay_done(store, demo_id, url)`` -> ``(done, reason)``: replays the demo in a fresh Chromium
  on the same page and asks ``zooDone()``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib
import json
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from traj.browser import RecordedDemo, Secrets, launch, record
from traj.eventlog import Secret
from traj.replay import replay_demo

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from traj.eventlog import Element, Event, Store

__all__ = ["PAGES", "Capture", "Recorded", "Step", "capture", "click", "describe", "replay_done", "script", "serve"]

ROOT = Path(__file__).parent
PAGES = sorted(p.stem for p in ROOT.glob("*.html") if (ROOT / f"{p.stem}.py").exists())
_DONE = "() => !!(window.zooDone && window.zooDone())"


@dataclass(frozen=True)
class Step:
    """One step a correct recording of a zoo page holds."""

    kind: str
    target: str | None
    value: str | re.Pattern[str] | Secret | None = None
    before: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    """One recorded step, described the way ``Step`` states expectations."""

    kind: str
    target: str | None
    value: str | Secret | None
    element: Element | None
    """The target as the observation before the step saw it."""
    observation: Event
    action: Event


@dataclass(frozen=True)
class Capture:
    """A zoo page's recording and how it differs from what was done."""

    name: str
    demo: RecordedDemo
    steps: list[Recorded]
    mismatches: list[str]
    correct: int
    total: int


def script(name: str) -> ModuleType:
    """The script module of zoo page ``name``."""
    return importlib.import_module(f"zoo.{name}")


@contextlib.contextmanager
def serve() -> Iterator[str]:
    """Serve the zoo directory on 127.0.0.1 (quietly); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(ROOT))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def capture(store: Store, name: str, url: str, *, demonstrator: Callable[[Page], None] | None = None) -> Capture:
    """Record zoo page ``name`` (served at ``url``) with its scripted demonstration; compare with its STEPS."""
    module = script(name)
    demo = record(
        store,
        f"{url}/{name}.html",
        task=f"zoo-{name}",
        goal=(module.__doc__ or name).strip().splitlines()[0],
        demonstrator=demonstrator or module.demonstrate,
        headless=True,
    )
    steps = recorded_steps(store, demo.stream)
    checks = _compare(module.STEPS, steps)
    checks.append(_warned(getattr(module, "WARNINGS", []), getattr(demo, "warnings", [])))
    mismatches = [problem for problem in checks if problem]
    return Capture(name, demo, steps, mismatches, len(checks) - len(mismatches), len(checks))


def replay_done(store: Store, demo_id: str, url: str) -> tuple[bool, str]:
    """Replay ``demo_id`` in a fresh Chromium on the same zoo page; done when a page says ``zooDone()``."""
    secrets = Secrets(getattr(script(Path(urllib.parse.urlsplit(url).path).stem), "SECRETS", {}))
    with launch(headless=True) as session:
        result = replay_demo(store, demo_id, session.page, url=url, secrets=secrets)
        if not result.completed:
            return False, result.reason
        pages = [p for p in session.context.pages if not p.is_closed()]
        if any(p.evaluate(_DONE) for p in pages):
            return True, ""
        return False, "every step ran but no page says zooDone()"


def recorded_steps(store: Store, stream: str) -> list[Recorded]:
    """The actions of ``stream`` with their targets as the observation before each saw them."""
    events = [e for e in store.events() if e.stream == stream]
    by_id = {e.event_id: e for e in events}
    steps = []
    for event in events:
        if event.type != "action":
            continue
        action = event.data
        observation = by_id[action.observation_id]
        element = _element(observation, action.target)
        target = describe(element) if element is not None else (None if action.target is None else "?")
        value = action.value
        if action.kind == "DRAG":  # dropped on: named like a target
            dropped = _element(observation, value)
            value = describe(dropped) if dropped is not None else "?"
        steps.append(Recorded(action.kind, target, value, element, observation, event))
    return steps


def _element(observation: Event, agent_id: str | None) -> Element | None:
    return next((el for el in observation.data.elements if el.agent_id == agent_id), None)


def describe(element: Element) -> str:
    """``'role "name"'`` (``'tag "text"'`` for an element without role or name): how a Step names it."""
    return f"{element.role or element.tag} {json.dumps(element.name or element.text, ensure_ascii=False)}"


def click(page: Page, selector: str) -> None:
    """A real mouse click at the centre of the element ``selector`` finds (``>>>``-free CSS)."""
    box = page.locator(selector).bounding_box()
    if box is None:
        raise AssertionError(f"{selector} has no box to click")
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def _compare(expected: list[Step], steps: list[Recorded]) -> list[str]:
    """One entry per step done or recorded: '' when it was recorded exactly, else how not."""
    return [_step_problem(index, expected, steps) for index in range(max(len(expected), len(steps)))]


def _step_problem(index: int, expected: list[Step], steps: list[Recorded]) -> str:
    if index >= len(steps):
        want = expected[index]
        return f"step {index}: {want.kind} {want.target} {want.value!r} was not recorded"
    got = steps[index]
    if index >= len(expected):
        return f"step {index}: recorded {_show(got)}, which was not done"
    want = expected[index]
    if (got.kind, got.target) != (want.kind, want.target) or not _value_matches(want.value, got.value):
        return f"step {index}: recorded {_show(got)}, done {want.kind} {want.target} {want.value!r}"
    attrs: dict[str, Any] = got.element.attrs if got.element is not None else {}
    wrong = {key: attrs.get(key) for key, value in want.before.items() if attrs.get(key) != value}
    return f"step {index}: before {_show(got)} the target had {wrong}, not {want.before}" if wrong else ""


def _warned(expected: list[str], warnings: list[str]) -> str:
    missing = [text for text in expected if not any(text in warning for warning in warnings)]
    if missing:
        return f"no warning mentions {missing} (warnings: {warnings})"
    if not expected and warnings:
        return f"unexpected warnings: {warnings}"
    return ""


def _value_matches(want: str | re.Pattern[str] | Secret | None, got: str | Secret | None) -> bool:
    if isinstance(want, re.Pattern):
        return isinstance(got, str) and want.fullmatch(got) is not None
    return want == got


def _show(step: Recorded) -> str:
    return f"{step.kind} {step.target} {step.value!r}"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
