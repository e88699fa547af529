"""The action executor: carries out one agent action on a live page, by the element's agent id.

The agent names elements by the ``data-agent-id`` the snapshotter gave them, so execution needs
no locator guessing. One call into the page looks the element up before acting (its locators,
for the record, and whether a click can go ahead at once: see :func:`action_target`). Clicks
and keys on an element wait for a navigation they request (Playwright's own barrier) to load;
a click that opens a popup continues on the popup. A secret (``{"secret": "NAME"}``) is typed
with its value from :class:`~traj.browser.Secrets`; none given, from ``TRAJ_SECRET_<NAME>``.
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

try:
    from playwright.sync_api import Error as PlaywrightError
except ModuleNotFoundError:  # the light core (no [browser] extra): traj.agent still imports, for feedback

    class PlaywrightError(Exception):  # type: ignore[no-redef]
        """Never raised: without Playwright no page exists to fail."""


from traj.browser._secrets import Secrets, mark_secret
from traj.browser._snapshot import action_target, resolve_locator, windows_opened
from traj.errors import ActionFailedError, BrowserError, ParseError, first_line
from traj.prompt import normalize_key

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Request

    from traj.eventlog import BoundingBox, LocatorStrategy, Secret

__all__ = ["Execution", "click", "drag", "execute_action", "prime_actions"]

_DRAG_STEPS = 12
_PAST_MIDDLE = 0.25
"""How far past the drop target's middle (a share of its size) a drag ends, in its direction."""

_MAX_WAIT_S = 10.0
_NEXT_FRAME = "() => new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)))"
_LOCATED = ("CLICK", "TYPE", "SELECT", "DRAG")
"""Kinds whose element's locators go into the record."""


@dataclass(frozen=True)
class Execution:
    """The page to continue on, how long the action waited on the page itself, and the locators
    of the element it used (CLICK, TYPE, SELECT and DRAG's dragged element)."""

    page: Page
    page_wait_ms: float = 0.0
    """Time spent waiting for a document the action started to load, or in a WAIT: the site's
    time, not the agent's, so latency budgets can tell the two apart."""
    locators: list[tuple[LocatorStrategy, str]] | None = None


def execute_action(
    page: Page,
    kind: str,
    target: str | None,
    value: str | Secret | None,
    *,
    timeout_s: float = 5.0,
    seen_at: BoundingBox | None = None,
    secrets: Secrets | None = None,
) -> Execution:
    """Do ``kind`` on element ``target`` with ``value``.

    ``seen_at`` is the element's box in the snapshot the action was decided on: a click on an
    element still there, uncovered and enabled goes ahead without Playwright's stability wait.
    A secret's value comes from ``secrets``; one that is not set raises
    :class:`~traj.errors.SecretMissingError` before anything is done.
    """
    waits: list[float] = []
    located: list[tuple[LocatorStrategy, str]] = []
    typed = (secrets or Secrets()).resolve(value)
    try:
        page = _execute(page, kind, target, typed, timeout_s, waits, located, seen_at)
    except ActionFailedError as exc:
        raise ActionFailedError(str(exc), located) from None
    except (PlaywrightError, BrowserError) as exc:
        raise ActionFailedError(f"{kind} [{target}] failed: {first_line(exc)[:200]}", located) from None
    if typed is not value:  # a secret: later snapshots (and the screen) show the field masked
        mark_secret(page, target)
    return Execution(page, round(sum(waits) * 1000, 3), located if kind in _LOCATED else None)


def prime_actions(page: Page) -> None:
    """Have Playwright set up its injected script in the current document now.

    It does so on a document's first locator use, which costs tens of milliseconds; the agent
    calls this while the model generates, so the step's action does not pay it.
    """
    with contextlib.suppress(PlaywrightError):
        page.locator("css=[data-agent-id]").count()


def _execute(
    page: Page,
    kind: str,
    target: str | None,
    value: str | None,
    timeout_s: float,
    waits: list[float],
    located: list[tuple[LocatorStrategy, str]],
    seen_at: BoundingBox | None,
) -> Page:
    timeout_ms = timeout_s * 1000
    if kind == "FINISH":
        return page
    if kind == "NAVIGATE":
        with _waiting(waits):
            page.goto(urllib.parse.urljoin(page.url, value or ""), timeout=timeout_ms)
        return page
    if kind == "WAIT":
        with _waiting(waits):
            page.wait_for_timeout(min(_number(value, default=1.0), _MAX_WAIT_S) * 1000)
        return page
    if kind == "SCROLL":
        _scroll(page, target, value)
        return page
    if kind in ("PRESS_ENTER", "PRESS"):
        key = "Enter" if kind == "PRESS_ENTER" else _key(value)
        if target is None:  # the keyboard has no navigation barrier: give the page a frame to start one
            _loading_after(page, lambda: page.keyboard.press(key), timeout_ms, waits, next_frame=True)
        else:
            element = resolve_locator(page, "agent_id", target)
            _loading_after(page, lambda: element.press(key, timeout=timeout_ms), timeout_ms, waits)
        return page
    if target is None:
        raise ActionFailedError(f"{kind} needs a target element")
    if kind not in _LOCATED:
        raise ActionFailedError(f"unknown action kind {kind!r}")
    found = action_target(page, target, seen_at)
    located.extend(found.locators)
    element = resolve_locator(page, "agent_id", target)
    if kind == "TYPE":
        element.fill(value or "", timeout=timeout_ms)
        return page
    if kind == "SELECT":
        _select(element, value or "", timeout_ms)
        return page
    if kind == "DRAG":
        if not value:
            raise ActionFailedError(f"DRAG [{target}] needs the drop target's id")
        drop = resolve_locator(page, "agent_id", value)
        _loading_after(page, lambda: drag(page, element, drop, timeout_ms=timeout_ms), timeout_ms, waits)
        return page
    popups: list[Page] = []

    def on_page(popup: Page) -> None:
        popups.append(popup)

    page.context.on("page", on_page)
    try:
        # force skips only the waits the page check just passed (see action_target)
        press = lambda: click(page, element, value, timeout_ms=timeout_ms, force=found.clickable)  # noqa: E731
        _loading_after(page, press, timeout_ms, waits)
        if not popups and (found.opens_window or _windows_opened(page)):
            _await_popup(page, popups, timeout_ms)
    finally:
        page.context.remove_listener("page", on_page)
    if not popups:
        return page
    with _waiting(waits):
        popups[-1].wait_for_load_state(timeout=timeout_ms)
    return popups[-1]


def click(page: Page, element: Locator, button: str | None, *, timeout_ms: float = 10_000, force: bool = False) -> None:
    """Click ``element`` as a CLICK with ``button`` says (:data:`traj.prompt.CLICK_BUTTONS`).

    ``None`` is a plain click; ``right`` a right-click, which opens the page's own context menu;
    ``double`` the second click of a double-click: the first was a CLICK of its own, and this one
    is pressed and released with a click count of 2, which is what fires ``dblclick`` (two clicks
    of count 1, however close, never do).
    """
    if button == "right":
        element.click(button="right", timeout=timeout_ms, force=force)
        return
    if button != "double":
        element.click(timeout=timeout_ms, force=force)
        return
    element.scroll_into_view_if_needed(timeout=timeout_ms)
    box = element.bounding_box(timeout=timeout_ms)
    if box is None:
        raise ActionFailedError("CLICK (double): the element is not on screen")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down(click_count=2)
    page.mouse.up(click_count=2)


def drag(page: Page, source: Locator, drop: Locator, *, timeout_ms: float = 10_000) -> None:
    """Drag ``source`` onto ``drop`` as a person's mouse does: press on the source's middle, move
    there in steps, release a quarter past the drop target's middle in the direction of travel.

    Pages that drag by mouse events (jQuery UI sortables, boards) follow the moves and reorder
    only once the pointer has crossed the middle of the item it goes past; a single jump, or a
    release on the very middle, leaves the list as it was. HTML5 drag and drop takes the same
    moves (Chromium starts its drag from them), and a drop zone still contains the point.
    """
    source.scroll_into_view_if_needed(timeout=timeout_ms)
    start, end = source.bounding_box(timeout=timeout_ms), drop.bounding_box(timeout=timeout_ms)
    if start is None or end is None:
        raise ActionFailedError("DRAG: the dragged element or the drop target is not on screen")
    x0, y0 = start["x"] + start["width"] / 2, start["y"] + start["height"] / 2
    x1, y1 = end["x"] + end["width"] / 2, end["y"] + end["height"] / 2
    x1 += _PAST_MIDDLE * end["width"] * _sign(x1 - x0, end["width"])
    y1 += _PAST_MIDDLE * end["height"] * _sign(y1 - y0, end["height"])
    page.mouse.move(x0, y0)
    page.mouse.down()
    for step in range(1, _DRAG_STEPS + 1):
        page.mouse.move(x0 + (x1 - x0) * step / _DRAG_STEPS, y0 + (y1 - y0) * step / _DRAG_STEPS)
    page.mouse.up()


def _sign(distance: float, size: float) -> int:
    """The direction of travel along an axis; none when the move is within a tenth of the target's size."""
    if abs(distance) < size / 10:
        return 0
    return 1 if distance > 0 else -1


def _windows_opened(page: Page) -> int:
    """``window.open`` calls during the click; none when the click took the page elsewhere."""
    try:
        return windows_opened(page)
    except BrowserError:  # the document went away under the call: it was navigating
        return 0


def _await_popup(page: Page, popups: list[Page], timeout_ms: float) -> None:
    """Wait (a frame at a time) until the window the click opened shows up in ``popups``."""
    deadline = time.perf_counter() + timeout_ms / 1000
    with contextlib.suppress(PlaywrightError):  # the opener navigated: nothing more to wait for here
        while not popups and time.perf_counter() < deadline:
            page.evaluate(_NEXT_FRAME)


_OPTION_LABELS = "e => e.options ? [...e.options].map((option) => option.label) : []"


@contextlib.contextmanager
def _waiting(waits: list[float]) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        waits.append(time.perf_counter() - started)


def _select(element: object, value: str, timeout_ms: float) -> None:
    """Select by the option's visible label, falling back to its value attribute, then to the one
    option whose label begins with ``value``'s words (what typing into the select picks: the goal's
    ``Office`` is the option ``Office supplies``; ``Office`` beside ``Office chairs`` is neither)."""
    labels = element.evaluate(_OPTION_LABELS)  # type: ignore[attr-defined]
    if value not in labels:
        begun = [label for label in labels if label.casefold().startswith(value.casefold() + " ")]
        value = begun[0] if len(begun) == 1 else value
    try:
        element.select_option(label=value, timeout=min(timeout_ms, 1000))  # type: ignore[attr-defined]
    except PlaywrightError:
        element.select_option(value=value, timeout=timeout_ms)  # type: ignore[attr-defined]


def _scroll(page: Page, target: str | None, value: str | None) -> None:
    if target is not None:
        resolve_locator(page, "agent_id", target).scroll_into_view_if_needed()
        return
    direction = (value or "down").strip().lower()
    if "," in direction:
        x, _, y = direction.partition(",")
        page.evaluate("([x, y]) => window.scrollTo(x, y)", [_number(x, 0), _number(y, 0)])
        return
    delta = {"up": -1, "top": -100, "bottom": 100}.get(direction, 1)
    page.evaluate("d => window.scrollBy(0, d * window.innerHeight * 0.8)", delta)


def _loading_after(
    page: Page, act: Callable[[], None], timeout_ms: float, waits: list[float], *, next_frame: bool = False
) -> None:
    """Do ``act``; if it started a navigation of the page, wait until the new document has
    loaded. From the navigation's request on, the time is the site's: it goes into ``waits``.

    Playwright's clicks and presses on an element return only after the navigations they
    requested have committed; ``next_frame`` gives other input one animation frame to start one.
    """
    requested: list[float] = []

    def on_request(request: Request) -> None:
        if request.is_navigation_request() and request.frame == page.main_frame:
            requested.append(time.perf_counter())

    page.on("request", on_request)
    try:
        act()
        if next_frame:
            try:
                page.evaluate(_NEXT_FRAME)
            except PlaywrightError:  # the document went away under the evaluation: a navigation
                requested.append(time.perf_counter())
    finally:
        page.remove_listener("request", on_request)
    if requested:
        with contextlib.suppress(PlaywrightError):
            page.wait_for_load_state("load", timeout=timeout_ms)
        waits.append(time.perf_counter() - requested[0])


def _key(value: str | None) -> str:
    """PRESS's key in Playwright's spelling; a chord the parser would refuse fails the action."""
    try:
        return normalize_key(value or "")
    except ParseError as exc:
        raise ActionFailedError(f"PRESS: {exc}") from None


def _number(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default
