"""The action executor: carries out one agent action on a live page, by the element's agent id.

The agent names elements by the ``data-agent-id`` the snapshotter gave them, so execution needs
no locator guessing. ``PRESS_ENTER`` and clicks wait for a navigation they start to load (one
animation frame shows whether they started one; no fixed sleep); a click that opens a popup
continues on the popup.
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from playwright.sync_api import Error as PlaywrightError

from traj.browser._snapshot import resolve_locator
from traj.errors import BrowserError, first_line

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request

__all__ = ["ActionFailedError", "Execution", "execute_action"]

_MAX_WAIT_S = 10.0
_NEXT_FRAME = "() => new Promise(resolve => requestAnimationFrame(() => setTimeout(resolve, 0)))"


class ActionFailedError(BrowserError):
    """The action could not be carried out on the page (message fit for the agent's history)."""


@dataclass(frozen=True)
class Execution:
    """The page to continue on, and how long the action waited on the page itself."""

    page: Page
    page_wait_ms: float = 0.0
    """Time spent waiting for a document the action started to load, or in a WAIT: the site's
    time, not the agent's, so latency budgets can tell the two apart."""


def execute_action(
    page: Page, kind: str, target: str | None, value: str | None, *, timeout_s: float = 5.0
) -> Execution:
    """Do ``kind`` on element ``target`` with ``value``."""
    waits: list[float] = []
    try:
        page = _execute(page, kind, target, value, timeout_s, waits)
    except PlaywrightError as exc:
        raise ActionFailedError(f"{kind} [{target}] failed: {first_line(exc)[:200]}") from None
    return Execution(page, round(sum(waits) * 1000, 3))


def _execute(
    page: Page, kind: str, target: str | None, value: str | None, timeout_s: float, waits: list[float]
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
    if kind == "PRESS_ENTER":
        if target is None:
            _loading_after(page, lambda: page.keyboard.press("Enter"), timeout_ms, waits)
        else:
            element = resolve_locator(page, "agent_id", target)
            _loading_after(page, lambda: element.press("Enter", timeout=timeout_ms), timeout_ms, waits)
        return page
    if target is None:
        raise ActionFailedError(f"{kind} needs a target element")
    element = resolve_locator(page, "agent_id", target)
    if kind == "TYPE":
        element.fill(value or "", timeout=timeout_ms)
    elif kind == "SELECT":
        _select(element, value or "", timeout_ms)
    elif kind == "CLICK":
        pages_before = len(page.context.pages)
        _loading_after(page, lambda: element.click(timeout=timeout_ms), timeout_ms, waits)
        if len(page.context.pages) > pages_before:
            popup = page.context.pages[-1]
            with _waiting(waits):
                popup.wait_for_load_state(timeout=timeout_ms)
            return popup
    else:
        raise ActionFailedError(f"unknown action kind {kind!r}")
    return page


@contextlib.contextmanager
def _waiting(waits: list[float]) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        waits.append(time.perf_counter() - started)


def _select(element: object, value: str, timeout_ms: float) -> None:
    """Select by the option's visible label, falling back to its value attribute."""
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


def _loading_after(page: Page, act: Callable[[], None], timeout_ms: float, waits: list[float]) -> None:
    """Do ``act``; if it started a navigation of the page (seen within one animation frame),
    wait until the new document has loaded (that wait goes into ``waits``)."""
    navigations: list[Request] = []

    def on_request(request: Request) -> None:
        if request.is_navigation_request() and request.frame == page.main_frame:
            navigations.append(request)

    page.on("request", on_request)
    try:
        act()
        try:
            page.evaluate(_NEXT_FRAME)
        except PlaywrightError:  # the document went away under the evaluation: a navigation
            navigations.append(None)  # type: ignore[arg-type]
    finally:
        page.remove_listener("request", on_request)
    if navigations:
        with _waiting(waits), contextlib.suppress(PlaywrightError):
            page.wait_for_load_state("load", timeout=timeout_ms)


def _number(value: str | None, default: float) -> float:
    try:
        return float(value) if value not in (None, "") else default
    except ValueError:
        return default
