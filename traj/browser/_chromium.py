"""Launching Debian's Chromium through Playwright (never a Playwright browser download)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from traj.errors import BrowserError, first_line

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

__all__ = ["CHROMIUM_FLAGS", "BrowserSession", "find_chromium", "has_display", "launch"]

CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-site-isolation-trials",
)
"""Flags for a quiet, offline-friendly Chromium (no update checks, no sync, no QUIC), with every
frame of a page in one renderer process: a cross-origin iframe (a payment widget) otherwise runs
in a process of its own, and what the person did there reached the recorder out of order with
what they did in the page (a field typed, then a click in the widget, recorded the other way
round in 3 of 8 runs)."""

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str:
    """The Chromium executable: ``$TRAJ_CHROMIUM``, else ``/usr/bin/chromium`` or one on ``PATH``."""
    override = os.environ.get("TRAJ_CHROMIUM")
    if override:
        if not (Path(override).is_file() and os.access(override, os.X_OK)):
            raise BrowserError(f"TRAJ_CHROMIUM={override!r} is not an executable file")
        return override
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError(
        "no Chromium found: install Debian's (sudo apt-get install -y chromium) "
        "or point TRAJ_CHROMIUM at a Chromium/Chrome executable"
    )


def has_display() -> bool:
    """Whether a headed browser window can be shown (an X11 or Wayland display is set)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@dataclass
class BrowserSession:
    """A running Chromium with one context and its first page."""

    playwright: Playwright
    browser: Browser
    context: BrowserContext
    page: Page
    headless: bool


@contextlib.contextmanager
def launch(
    *,
    headless: bool | None = None,
    viewport: tuple[int, int] = (1280, 800),
    slow_mo: float = 0,
) -> Iterator[BrowserSession]:
    """Start Chromium for recording, replay or an agent run; closed on exit.

    ``headless=None`` shows a window when a display exists and runs headless otherwise;
    asking for a window without a display is an error that says how to fix it.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if headless is None:
        headless = not has_display()
    elif not headless and not has_display():
        raise BrowserError("no display for a headed browser: pass --headless, or run under a desktop or xvfb-run")
    executable = find_chromium()
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=headless, args=list(CHROMIUM_FLAGS), slow_mo=slow_mo
            )
        except PlaywrightError as exc:
            raise BrowserError(f"could not start Chromium at {executable}: {first_line(exc)}") from None
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            yield BrowserSession(playwright, browser, context, context.new_page(), headless)
        finally:
            with contextlib.suppress(PlaywrightError):
                browser.close()
