"""Handing one step to the person at the browser: the recorder's listeners catch their next action.

The agent asks only now and then, so the recorder (``recorder.js``) is put into the page when it
first asks and paused in between: the agent's own Playwright clicks are trusted input too, and
must not be taken for the person's. A TYPE is reported when the person leaves the field (Tab,
or a click elsewhere) or presses Enter, as when recording a demonstration; what they type into
a password field comes back as a secret's reference (:class:`~traj.browser.SecretKeeper`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traj.browser._secrets import SecretKeeper
from traj.errors import BrowserError

if TYPE_CHECKING:
    from playwright.sync_api import Page

    from traj.eventlog import Secret

__all__ = ["HandOver", "PersonAction"]

_RECORDER = Path(__file__).parent / "recorder.js"
_POLL_MS = 50


@dataclass(frozen=True)
class PersonAction:
    """What the person did: the action in the agent's terms and the recorder's locators for it."""

    kind: str
    target: str | None
    value: str | Secret | None
    locators: list[tuple[str, str]]
    context: str = ""
    drop_locators: list[tuple[str, str]] = field(default_factory=list)
    """DRAG: the locators of the element dropped on (``value``)."""
    drop_context: str = ""


class HandOver:
    """Waits for the next action a person takes on ``page`` (one object per page, reused for each ask)."""

    def __init__(self, page: Page, keeper: SecretKeeper | None = None) -> None:
        self.page = page
        self.keeper = keeper or SecretKeeper()
        self._bound = False
        self._listening = False
        self._taken: list[dict[str, Any]] = []

    def next_action(self, timeout_s: float, on_listening: Callable[[], None] | None = None) -> PersonAction | None:
        """The person's next action on the page, or ``None`` when none came within ``timeout_s``.

        ``on_listening`` runs once the page listens (tell the person now; a script standing in
        for one acts from it).
        """
        from playwright.sync_api import Error as PlaywrightError

        self._taken.clear()
        try:
            self._listen()
            self._listening = True
            if on_listening is not None:
                on_listening()
            deadline = time.monotonic() + timeout_s
            while not self._taken and time.monotonic() < deadline:
                self.page.wait_for_timeout(_POLL_MS)
        except PlaywrightError as exc:
            raise BrowserError(f"waiting for the person's action on {self.page.url} failed: {exc}") from None
        finally:
            self._listening = False
            self._pause()
        if not self._taken:
            return None
        message = self._taken[0]
        return PersonAction(
            kind=message["kind"],
            target=message.get("target"),
            value=self.keeper.stored_value(message),
            locators=[(strategy, locator) for strategy, locator in message.get("locators") or []],
            context=message.get("context") or "",
            drop_locators=[(strategy, locator) for strategy, locator in message.get("dropLocators") or []],
            drop_context=message.get("dropContext") or "",
        )

    def _listen(self) -> None:
        if not self._bound:
            self.page.expose_binding("__trajRecord", self._on_action)
            self._bound = True
        self.page.evaluate(_RECORDER.read_text(encoding="utf-8"))
        if not self.page.evaluate("() => !!window.__trajRecorder"):
            raise BrowserError(f"cannot listen for the person's action on {self.page.url}: the page has no snapshot")
        self.page.evaluate("() => window.__trajRecorder.setPaused(false)")

    def _pause(self) -> None:
        from playwright.sync_api import Error as PlaywrightError

        # the person's action may have navigated or closed the page: that document's listeners are gone
        with contextlib.suppress(PlaywrightError):
            self.page.evaluate("() => window.__trajRecorder && window.__trajRecorder.setPaused(true)")

    def _on_action(self, source: dict[str, Any], message: dict[str, Any]) -> None:
        if self._listening:
            self._taken.append(message)
