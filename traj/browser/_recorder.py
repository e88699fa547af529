"""The recorder: turns what a person does in Chromium into a ``demo/<id>`` stream.

Injected scripts (``snapshot.js``, then ``recorder.js``) report each action through a
Playwright binding together with a DOM snapshot taken in the capture phase, before the
page reacts, so every action references the observation it was decided in. Whenever the
page settles, the recorder takes a screenshot (a deduplicated blob); an observation carries
the last one taken before the person's input started, never one that shows the input.
Events are appended as they happen, by a writer thread (:class:`~traj.browser._writer.DemoWriter`)
in the order they were reported, so a demonstrator's input call does not wait for the store's
fsync: a crash or Ctrl+C leaves a readable demo with no ``demo.finished`` (which the ``demos``
projection shows as unfinished), short of the events reported in the last milliseconds.
Secrets (password fields, values marked with ``secrets``) are stored as ``{"secret": NAME}``
and masked in every observation (:class:`~traj.browser.SecretKeeper`).
"""

from __future__ import annotations

import base64
import collections
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from traj.browser._page_task import page_verdict
from traj.browser._secrets import SecretKeeper, mark_secret, mask_values
from traj.browser._success import derive_success_spec
from traj.browser._writer import DemoWriter
from traj.errors import BrowserError, first_line
from traj.eventlog import (
    Action,
    DemoFinished,
    DemoStarted,
    DemoSuccess,
    Element,
    NewEvent,
    Observation,
    Secret,
    Store,
    SuccessSpec,
    blob_digest,
    new_event_id,
)
from traj.projections import derive_variables, load_demo

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, CDPSession, Frame, Page

__all__ = ["RecordedDemo", "Recorder", "open_url"]

log = logging.getLogger(__name__)

_SCRIPTS = Path(__file__).parent
_ELEMENTS = msgspec.json.Decoder(list[Element])
_SNAPSHOT = msgspec.json.Decoder(dict[str, Any])
_KEPT_SETTLES = 64
_SNAPSHOT_AT_REST = "() => window.__traj.snapshotJSON({markNew: false})"
_SNAPSHOT_UNLESS_INPUT_SINCE_REST = (
    "() => window.__trajRecorder && window.__trajRecorder.inputSinceRest() ? null"
    " : [window.__traj.snapshotJSON({markNew: false}),"
    "    window.__trajRecorder ? window.__trajRecorder.pointerStillFor() : 1e9]"
)
_INPUT_SINCE_REST = "() => !!(window.__trajRecorder && window.__trajRecorder.inputSinceRest())"
_STEERED_S = 1.0
"""A page that came to rest this soon after the pointer moved may have changed because of it (a
submenu opening on hover): the person was steering, not waiting."""


@dataclass(frozen=True)
class RecordedDemo:
    """What a finished recording holds."""

    demo_id: str
    stream: str
    actions: int
    success: bool | None
    warnings: list[str] = field(default_factory=list)
    """Steps that could not be captured exactly, each saying which and why (also reported as they happen)."""


@dataclass
class _Settled:
    """The page as it last came to rest: its DOM snapshot and screenshot (PNG, stored once cited)."""

    snapshot: dict[str, Any]
    png: bytes | None
    at: float
    steered: bool = False
    """The pointer moved just before the page came to rest (see ``_STEERED_S``)."""
    digest: str | None = field(init=False)
    """The screenshot's blob digest, known before the writer stores it."""

    def __post_init__(self) -> None:
        self.digest = blob_digest(self.png) if self.png is not None else None


class Recorder:
    """Records one demonstration from ``context`` into ``store``.

    ``wait_after_s``: a WAIT is recorded before an action when the person waited for the
    page: the page changed after it first came to rest following the previous action, and the
    time between the two actions that the page spent idle exceeded this. The page's busy
    time (its own work, which a loaded machine stretches, and Playwright's in-page checks)
    is not idle time, so a slow machine does not turn a script's quick succession of inputs
    into a WAIT.

    ``secrets`` (name -> value) are values stored only by name wherever they are typed,
    beside what is typed into password fields.

    ``on_warning`` hears, as it happens, each step that cannot be captured exactly (a click
    on nothing the page reacts to, a canvas, a drop over nothing); default: logged. They are
    also in the result.

    ``success_spec`` is what the finished task looks like, as the user states it; without
    one it is derived from the end state (:func:`~traj.browser.derive_success_spec`). Either
    way it is recorded as ``demo.success`` before ``demo.finished``.
    """

    def __init__(
        self,
        store: Store,
        context: BrowserContext,
        *,
        task: str,
        goal: str,
        url: str,
        seed: int | None = None,
        source: str = "human",
        demo_id: str | None = None,
        wait_after_s: float = 1.0,
        screenshots: bool = True,
        variables: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        on_warning: Callable[[str], None] | None = None,
        success_spec: SuccessSpec | None = None,
    ) -> None:
        self.store = store
        self.success_spec = success_spec
        self._keeper = SecretKeeper(secrets, stated=goal)
        self.context = context
        self.demo_id = demo_id or new_event_id()
        self.stream = f"demo/{self.demo_id}"
        self._writer = DemoWriter(store, self.stream, self.demo_id)
        self._cited: dict[str, bytes] = {}
        """Screenshots cited since the last append: the writer stores them before the events citing them."""
        self.task, self.goal, self.url, self.seed, self.source = task, goal, url, seed, source
        self.wait_after_s = wait_after_s
        self.screenshots = screenshots
        self.variables = dict(variables or {})
        """name -> value: typed or selected values the person named as parameters of the task,
        beside those the goal names (:func:`~traj.projections.derive_variables`)."""
        self.page: Page | None = None
        self.actions = 0
        self._settled: _Settled | None = None
        self._settles: collections.deque[_Settled] = collections.deque(maxlen=_KEPT_SETTLES)
        """Recent states at rest: a WAIT is decided in the first one after the previous action."""
        self._last_action_at = time.time()
        self._last_url = ""
        self._last_before = ""
        """The page text the latest action was decided in: what the end state is compared with."""
        self._errors: list[BaseException] = []
        self._cdp: dict[Page, CDPSession] = {}
        self._finished = False
        self.warnings: list[str] = []
        self._on_warning = on_warning or log.warning

    # ------------------------------------------------------------------ lifecycle

    def start(self, page: Page | None = None) -> Page:
        """Attach the recorder and open the start URL in ``page`` (default: a new page); returns it.

        Raises BrowserError, having recorded nothing, when the URL cannot be opened.
        """
        self.context.expose_binding("__trajRecord", self._on_action)
        self.context.expose_binding("__trajSettled", self._on_settled)
        for script in ("snapshot.js", "recorder.js"):
            self.context.add_init_script(path=_SCRIPTS / script)
        page = page or self.context.new_page()
        open_url(page, self.url)
        started = DemoStarted(
            demo_id=self.demo_id,
            task=self.task,
            goal=self.goal,
            url=self.url,
            seed=self.seed,
            source=self.source,  # type: ignore[arg-type]
        )
        self._append([started])
        self._follow(page)
        self._settle_now(page)  # the first action's observation has its screenshot even if it comes at once
        self._last_action_at = time.time()  # the person starts from the page as it opened
        self.context.on("page", self._on_new_page)
        return page

    def finish(self, *, reason: str = "") -> RecordedDemo:
        """Flush pending input, record the final observation and ``demo.finished``."""
        if self._finished:
            raise BrowserError(f"demo {self.demo_id} is already finished")
        page = self.page
        success: bool | None = None
        events: list[Any] = []
        end: _Settled | None
        if page is not None and not page.is_closed():
            page.evaluate("() => window.__trajRecorder && window.__trajRecorder.flush()")
            page.wait_for_timeout(50)  # let the flushed reports arrive (recorded: not finished yet)
            self._finished = True
            self.drain()
            end = self._settle_now(page)
            events.append(self._observation_event(end.snapshot, self._blob(end)))
            success = page_verdict(page)
        else:  # the window is gone: its last state at rest is the final observation
            self._finished = True
            self.drain()
            end = self._settled
            if end is not None:
                events.append(self._observation_event(end.snapshot, self._blob(end)))
            reason = reason or "the window was closed"
        variables = derive_variables(load_demo(self.store, self.demo_id), self.variables)
        if variables is not None:
            events.append(variables)
        bound = dict(variables.defaults) if variables is not None else {}
        events.append(self._success_event(end, bound, page_check=success is not None))
        self._append([*events, DemoFinished(demo_id=self.demo_id, success=success, reason=reason)])
        self._writer.close()
        return RecordedDemo(self.demo_id, self.stream, self.actions, success, list(self.warnings))

    def drain(self) -> None:
        """Wait until every event recorded so far is durable in the store.

        ``finish()`` does this; a recording that ends without it (an error in the demonstrator)
        needs it before the store closes. Raises BrowserError when an event could not be
        written or a recorder callback failed.
        """
        self._writer.drain()
        if self._errors:
            first = self._errors[0]
            raise BrowserError(f"recording demo {self.demo_id} failed: {first}") from first

    def _success_event(self, end: _Settled | None, variables: dict[str, str], *, page_check: bool) -> DemoSuccess:
        """The user's success spec, or the one the end state implies (variables as ``{name}``)."""
        if self.success_spec is not None and not self.success_spec.empty:
            return DemoSuccess(demo_id=self.demo_id, spec=self.success_spec, source="user")
        final = end.snapshot if end is not None else {}
        spec = derive_success_spec(
            self.url,
            self._last_before,
            final.get("url", ""),
            final.get("text", ""),
            variables,
            page_check=page_check,
        )
        return DemoSuccess(demo_id=self.demo_id, spec=spec)

    # ------------------------------------------------------------------ browser callbacks

    def _follow(self, page: Page) -> None:
        self.page = page
        self._last_url = page.url
        page.on("framenavigated", self._on_navigated)

    def _on_new_page(self, page: Page) -> None:
        """A popup or new tab: follow it, and record the switch as a NAVIGATE."""
        self._guard(self._record_navigation, page.url or "about:blank", popup=True)
        self._follow(page)

    def _on_navigated(self, frame: Frame) -> None:
        if self.page is None or frame != self.page.main_frame or frame.url == self._last_url:
            return
        self._last_url = frame.url
        self._guard(self._record_navigation, frame.url, popup=False)

    def _on_settled(self, source: dict[str, Any], url: str) -> None:
        page = source.get("page")
        if page is None or page != self.page or self._finished:
            return
        self._guard(self._settle_quietly, page)

    def _settle_quietly(self, page: Page) -> None:
        """A rest snapshot is best effort: a page that navigates meanwhile settles again on load.
        A rest that the person's input ended before or while it is taken is skipped (another is
        reported once they stop): its screenshot would hold up the page's response to that input
        and could show it half done (the first key of a field typed into just after a click's
        rest)."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            mask_values(page, self._keeper.marked)
            rest = page.evaluate(_SNAPSHOT_UNLESS_INPUT_SINCE_REST)
            if rest is None:
                return
            snapshot, still_ms = rest
            png = self._screenshot(page) if self.screenshots else None
            if page.evaluate(_INPUT_SINCE_REST):  # a key came as the screenshot was taken: it may show it
                return
            self._keep(snapshot, png, steered=still_ms / 1000 < _STEERED_S)
        except PlaywrightError as exc:
            log.debug("skipped a rest snapshot: %s", exc)

    def _on_action(self, source: dict[str, Any], message: dict[str, Any]) -> None:
        if self._finished:
            return
        self._guard(self._record_action, message, source.get("page"))

    def _guard(self, handler: Any, *args: Any, **kwargs: Any) -> None:
        # An exception in a Playwright callback would be lost; keep it for finish().
        try:
            handler(*args, **kwargs)
        except BrowserError as exc:  # the writer's failure, already logged with its cause where it happened
            log.error("recorder callback failed: %s", exc)
            self._errors.append(exc)
        except Exception as exc:
            log.exception("recorder callback failed")
            self._errors.append(exc)

    # ------------------------------------------------------------------ events

    def _record_action(self, message: dict[str, Any], page: Page | None) -> None:
        at = message["at"] / 1000
        target = message.get("target")
        events: list[NewEvent] = []
        pause = self._waited_in(at, message.get("busy", 0) / 1000)
        if pause is not None:
            wait = f"{at - pause.at:.1f}"
            events += self._step_events(pause.snapshot, self._blob(pause), "WAIT", None, wait, [], "")
        value = self._keeper.stored_value(message)
        warning = message.get("warning") or ""
        if message["kind"] == "DRAG" and value is None:
            warning = "the drag ended over no element the snapshot sees: the drop target is not recorded"
        if warning:
            self._warn(f"step {self.actions + len(events) // 2} ({message['kind']}): {warning}")
        events += self._step_events(
            self._decode(message["snapshot"]),
            self._blob(self._rest_before(at)),
            message["kind"],
            target,
            value,
            message.get("locators") or [],
            message.get("context", ""),
            drop_locators=message.get("dropLocators") or [],
            drop_context=message.get("dropContext", ""),
        )
        self._append(events)
        self._last_action_at = max(self._last_action_at, at)
        if isinstance(value, Secret) and not message.get("password") and page is not None:
            # Masked from now on, on screen too. After the append: while the page answers, the
            # reports of later actions are handled, and they must come after this one.
            mark_secret(page, message.get("target"))

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        self._on_warning(text)

    def _rest_before(self, at: float) -> _Settled | None:
        """The last state at rest whose screenshot was taken before ``at`` (when the person's input
        started): a later one could already show the input, e.g. a TYPE's first characters."""
        return next((state for state in reversed(self._settles) if state.at <= at), self._settled)

    def _waited_in(self, at: float, busy_s: float) -> _Settled | None:
        """The state a person waited in before acting at ``at``, if they waited for the page: the
        page kept changing after the previous action (and after the last change their pointer may
        have caused), and of the pause, more than ``wait_after_s`` was not the page's own busy
        time (``busy_s``)."""
        if at - self._last_action_at - busy_s <= self.wait_after_s:
            return None
        rests = [state for state in self._settles if self._last_action_at < state.at < at]
        steered = [i for i, state in enumerate(rests) if state.steered]
        if steered:  # what the pointer did (a hover that opened a menu) was not waited for
            rests = rests[steered[-1] :]
        if len(rests) < 2 or rests[0].snapshot.get("text") == rests[-1].snapshot.get("text"):
            return None
        return rests[0]

    def _record_navigation(self, url: str, *, popup: bool) -> None:
        state = self._settled
        snapshot = state.snapshot if state else {"url": self._last_url, "title": "", "text": "", "elements": []}
        url = self._keeper.scrub(url)  # a form sent by GET puts what was typed into the URL
        value = url if not popup else f"popup:{url}"
        self._append(self._step_events(snapshot, self._blob(state), "NAVIGATE", None, value, [], ""))
        self._last_action_at = time.time()

    def _step_events(
        self,
        snapshot: dict[str, Any],
        screenshot: str | None,
        kind: str,
        target: str | None,
        value: str | Secret | None,
        locators: list[list[str]],
        context: str,
        *,
        drop_locators: Sequence[Sequence[str]] = (),
        drop_context: str = "",
    ) -> list[NewEvent]:
        observation = self._observation_event(snapshot, screenshot)
        self._last_before = observation.data.text
        action = Action(
            kind=kind,  # type: ignore[arg-type]
            target=target,
            value=value,
            locators=[(strategy, locator) for strategy, locator in locators],  # type: ignore[misc]
            observation_id=observation.event_id,
            step=self.actions,
            context=context,
            drop_locators=[(strategy, locator) for strategy, locator in drop_locators],  # type: ignore[misc]
            drop_context=drop_context,
        )
        self.actions += 1
        event = NewEvent(data=action)
        return [observation, event]

    def _observation_event(self, snapshot: dict[str, Any], screenshot: str | None) -> NewEvent:
        return NewEvent(data=self._observation(snapshot, screenshot), blobs=(screenshot,) if screenshot else ())

    def _observation(self, snapshot: dict[str, Any], screenshot: str | None) -> Observation:
        return Observation(
            url=snapshot.get("url", ""),
            title=snapshot.get("title", ""),
            text=snapshot.get("text", ""),
            elements=_ELEMENTS.decode(msgspec.json.encode(snapshot.get("elements", []))),
            screenshot=screenshot,
            step=self.actions,
        )

    def _settle_now(self, page: Page) -> _Settled:
        """Snapshot the page at rest: the screenshot the next observations carry."""
        mask_values(page, self._keeper.marked)  # a marked secret being typed is not on the screenshot
        return self._rest(page, page.evaluate(_SNAPSHOT_AT_REST))

    def _rest(self, page: Page, snapshot_json: str) -> _Settled:
        """Keep the page's state at rest: ``snapshot_json`` and a screenshot taken now."""
        return self._keep(snapshot_json, self._screenshot(page) if self.screenshots else None)

    def _keep(self, snapshot_json: str, png: bytes | None, *, steered: bool = False) -> _Settled:
        """Keep ``snapshot_json`` and its screenshot ``png`` as the page's latest state at rest."""
        state = _Settled(self._decode(snapshot_json), png, time.time(), steered)
        self._settled = state
        self._settles.append(state)
        return state

    def _decode(self, snapshot: str) -> dict[str, Any]:
        """A snapshot's JSON with every secret met so far masked (a page may echo a typed value)."""
        return _SNAPSHOT.decode(self._keeper.scrub(snapshot) if self._keeper.active else snapshot)

    def _blob(self, state: _Settled | None) -> str | None:
        """The screenshot of ``state`` as a blob: stored with the next append (the writer deduplicates)."""
        if state is None or state.png is None or state.digest is None:
            return None
        self._cited[state.digest] = state.png
        return state.digest

    def _screenshot(self, page: Page) -> bytes:
        """A PNG of the viewport through CDP with ``optimizeForSpeed``: ~15 ms, not ~40 ms."""
        cdp = self._cdp.get(page)
        if cdp is None:
            cdp = self._cdp[page] = self.context.new_cdp_session(page)
        reply = cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True})
        return base64.b64decode(reply["data"])

    def _append(self, events: list[Any]) -> None:
        """Hand ``events`` to the writer, after the screenshots they cite; the order of calls is the stream's."""
        cited, self._cited = self._cited, {}
        self._writer.append(events, cited)


def open_url(page: Page, url: str) -> None:
    """Open the demonstration's start URL; one clear error when it cannot be reached."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.goto(url)
    except PlaywrightError as exc:
        raise BrowserError(f"cannot open {url}: {first_line(exc)}") from None
