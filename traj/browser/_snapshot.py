"""DOM snapshots of a page and locator fingerprints for its elements.

The work happens in ``snapshot.js`` (package data), installed in the page as ``window.__traj``
either by ``context.add_init_script(script=snapshot_script())`` (every frame, before the page's
own scripts: what the recorder does) or on first use by :func:`take_snapshot` /
:func:`locators_for`.

Locator values, as recorded in ``Action.locators`` and accepted by :func:`resolve_locator`
(every match exact; each value was checked in the page to find exactly one element, the target,
under the rules of Playwright's own selector engines):

- ``test_id``: the ``data-testid`` value -> ``get_by_test_id(value)``.
- ``role``: the role, one space, the accessible name as a JSON string (``button "Save draft"``)
  -> ``get_by_role("button", name="Save draft", exact=True)``; a bare role (``combobox``) for an
  element without a name -> ``get_by_role("combobox")``.
- ``label``, ``placeholder``, ``text``, ``title``: the text -> ``get_by_label`` /
  ``get_by_placeholder`` / ``get_by_text`` / ``get_by_title`` with ``exact=True``.
- ``css_id``: ``#email`` and ``css``: a short CSS path such as ``form > div:nth-of-type(2) > input``
  -> ``locator("css=...")``; Playwright's CSS pierces open shadow roots (``my-widget > button``).
- ``xpath``: absolute, ``/html/body/form/input[2]`` -> ``locator("xpath=...")``; none for elements
  inside shadow roots.
- ``agent_id``: ``12`` or ``f1-3`` -> ``[data-agent-id="..."]`` (meaningful on the live page only;
  never in :func:`locators_for`'s list, which is for finding the element again later).

Elements inside a same-origin iframe: the value is prefixed with the iframe's CSS selector (unique
in its parent frame) and ``" >>> "``, e.g. ``("role", '#checkout >>> button "Pay"')``; nested
iframes chain their selectors with ``" >> "`` (``'#outer >> iframe[name="pay"] >>> ...'``).
The value is split at the first ``" >>> "`` and each frame selector goes through
``frame_locator``. A top-level value containing ``" >>> "`` is never produced, so the encoding is
unambiguous. Agent ids carry their frame in their prefix: ``f1-3`` is an element of the document
in the iframe marked ``data-agent-frame="f1"``, ``f1-f2-3`` one level deeper.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from traj.errors import BrowserError, first_line

if TYPE_CHECKING:
    from playwright.sync_api import FrameLocator, Locator, Page

    from traj.eventlog import BoundingBox, Element, LocatorStrategy

__all__ = [
    "FRAME_SEPARATOR",
    "ActionTarget",
    "PageSnapshot",
    "action_target",
    "describe_matches",
    "install_snapshotter",
    "locators_for",
    "matching_elements",
    "resolve_locator",
    "reveal_point",
    "snapshot_script",
    "take_snapshot",
    "windows_opened",
]

FRAME_SEPARATOR = " >>> "
"""Between an iframe's selector and a locator value inside that iframe."""

_FRAME_CHAIN = " >> "


@dataclass(frozen=True)
class PageSnapshot:
    """What a page showed at one moment: its interactive elements, visible text and a screenshot."""

    url: str
    title: str
    text: str
    """The body's visible ``innerText`` (capped at 20,000 characters)."""
    elements: list[Element]
    """Interactive elements in document order (shadow roots after their host, iframes after the iframe)."""
    screenshot: bytes | None
    """PNG of the viewport, or None when not asked for."""


@functools.cache
def snapshot_script() -> str:
    """The source of ``snapshot.js``, for ``context.add_init_script(script=...)`` or ``page.evaluate``."""
    return (Path(__file__).parent / "snapshot.js").read_text(encoding="utf-8")


@functools.cache
def _script_version() -> int:
    found = re.search(r"const VERSION = (\d+);", snapshot_script())
    if found is None:
        raise BrowserError("snapshot.js has no VERSION")
    return int(found.group(1))


def take_snapshot(page: Page, *, screenshot: bool = True, mark_new: bool = True) -> PageSnapshot:
    """Snapshot the page's interactive elements (assigning agent ids on first sight), text and viewport.

    Elements without an id get a ``data-agent-id`` attribute now (a page's MutationObservers see
    it) and keep it for the life of the document. With ``mark_new`` (the default), elements absent
    from the previous marking snapshot of the same document are flagged ``new`` (nothing is
    flagged on a document's first snapshot) and this snapshot becomes the one the next compares
    against. Names leave out CSS-generated content (icon glyphs), as ``innerText`` does; role
    locators keep it, as Playwright does.
    """
    from playwright.sync_api import Error as PlaywrightError

    # A JSON string crosses Playwright's protocol ~30x faster than the same value as an object.
    encoded = _call(page, "snapshotJSON", {"markNew": mark_new})
    try:
        raw = msgspec.json.decode(encoded, type=_raw_snapshot_type())
    except (msgspec.ValidationError, msgspec.DecodeError, TypeError) as exc:
        raise BrowserError(f"the page returned a malformed snapshot: {exc}") from None
    shot = None
    if screenshot:
        try:
            shot = page.screenshot(type="png")
        except PlaywrightError as exc:
            raise BrowserError(f"screenshot failed: {first_line(exc)}") from None
    return PageSnapshot(url=raw.url, title=raw.title, text=raw.text, elements=raw.elements, screenshot=shot)


def install_snapshotter(page: Page) -> None:
    """Load the snapshotter into every document ``page`` opens from now on (once per page), so
    a document's first snapshot does not pay for installing it (tens of milliseconds)."""
    if page not in _installed_pages:
        page.add_init_script(script=snapshot_script())
        _installed_pages.add(page)


_installed_pages: weakref.WeakSet[Page] = weakref.WeakSet()


@functools.cache
def _raw_snapshot_type() -> type:
    from traj.eventlog import Element  # here, not at the top: traj.eventlog pulls in pyarrow

    fields = [("url", str), ("title", str), ("text", str), ("elements", list[Element])]
    return msgspec.defstruct("RawSnapshot", fields, frozen=True)


def matching_elements(page: Page, fingerprint: dict[str, Any]) -> list[dict[str, Any]]:
    """Interactive elements with ``fingerprint`` (``tag``, ``role``, lower-cased ``name``, ``attrs``
    as ``[[key, value], ...]``), each as ``{agent_id, tag, role, name, text, visible, disabled, context}``.

    One call into the page, so finding a step's element again costs one round trip.
    """
    return _call(page, "matching", fingerprint)


def describe_matches(locator: Locator) -> list[dict[str, Any] | None]:
    """What ``locator`` matches, as :func:`matching_elements` describes elements (None: not interactive)."""
    return locator.evaluate_all("els => window.__traj.briefs(els)")


def locators_for(page: Page, agent_id: str) -> list[tuple[LocatorStrategy, str]]:
    """Ways to find the element with ``agent_id`` again, most specific first (codegen's ranking).

    Raises BrowserError when no element on the page carries that id.
    """
    found = _call(page, "locatorsFor", agent_id)
    if found is None:
        raise BrowserError(f"no element with agent id {agent_id!r} on {page.url}")
    return [(strategy, value) for strategy, value in found]


@dataclass(frozen=True)
class ActionTarget:
    """The element an action is about to use: how to find it again, and whether a click can go
    ahead without Playwright's actionability waits (see ``actionTarget`` in snapshot.js)."""

    locators: list[tuple[LocatorStrategy, str]]
    clickable: bool
    opens_window: bool
    """A click follows a link or submits a form into another window (``target``)."""


def action_target(page: Page, agent_id: str, seen_at: BoundingBox | None = None) -> ActionTarget:
    """Look ``agent_id`` up once before acting on it; ``seen_at`` is its box in the snapshot the
    action was decided on (a click goes ahead at once only if the element has not moved since).

    Raises BrowserError when no element on the page carries that id.
    """
    box = msgspec.to_builtins(seen_at) if seen_at is not None else None
    found = _call(page, "actionTarget", agent_id, box)
    if found is None:
        raise BrowserError(f"no element with agent id {agent_id!r} on {page.url}")
    return ActionTarget(
        [(strategy, value) for strategy, value in found["locators"]],
        bool(found["clickable"]),
        bool(found["opensWindow"]),
    )


def reveal_point(locator: Locator) -> tuple[float, float] | None:
    """Where to point to show the hidden element ``locator`` finds: its innermost shown list, menu
    or tree item (a submenu that opens on hover); None when it is inside none."""
    point = locator.evaluate("el => window.__traj.revealPoint(el)")
    return (point["x"], point["y"]) if point else None


def windows_opened(page: Page) -> int:
    """How many times the page called ``window.open`` since the last :func:`action_target`."""
    return int(_call(page, "windowsOpened") or 0)


def resolve_locator(page: Page, strategy: str, value: str) -> Locator:
    """A Playwright locator for one recorded ``(strategy, value)``; see the module docstring for encodings."""
    scope: Page | FrameLocator = page
    if strategy == "agent_id":
        parts = value.split("-")
        for depth in range(1, len(parts)):
            scope = scope.frame_locator(f'[data-agent-frame="{"-".join(parts[:depth])}"]')
        return scope.locator(f"css=[data-agent-id={json.dumps(value)}]")
    if FRAME_SEPARATOR in value:
        frames, value = value.split(FRAME_SEPARATOR, 1)
        for frame in frames.split(_FRAME_CHAIN):
            scope = scope.frame_locator(frame)
    if strategy == "test_id":
        return scope.get_by_test_id(value)
    if strategy == "role":
        role, _, quoted = value.partition(" ")
        if not quoted:
            return scope.get_by_role(role)  # type: ignore[arg-type]
        return scope.get_by_role(role, name=json.loads(quoted), exact=True)  # type: ignore[arg-type]
    if strategy == "label":
        return scope.get_by_label(value, exact=True)
    if strategy == "placeholder":
        return scope.get_by_placeholder(value, exact=True)
    if strategy == "text":
        return scope.get_by_text(value, exact=True)
    if strategy == "title":
        return scope.get_by_title(value, exact=True)
    if strategy in ("css", "css_id"):
        return scope.locator(f"css={value}")
    if strategy == "xpath":
        return scope.locator(f"xpath={value}")
    raise ValueError(f"unknown locator strategy {strategy!r}")


def _call(page: Page, method: str, *args: Any) -> Any:
    """Call ``window.__traj[method](*args)`` in the page, installing the script first if needed."""
    from playwright.sync_api import Error as PlaywrightError

    call = (
        f"(args) => (window.__traj && window.__traj.version === {_script_version()})"
        " ? window.__traj[args[0]](...args.slice(1)) : undefined"
    )
    try:
        result = page.evaluate(call, [method, *args])
        if result is None and not _installed(page):
            page.evaluate(snapshot_script())
            result = page.evaluate(call, [method, *args])
    except PlaywrightError as exc:
        raise BrowserError(f"snapshot script failed on {page.url}: {first_line(exc)}") from None
    return result


def _installed(page: Page) -> bool:
    return bool(page.evaluate(f"() => !!(window.__traj && window.__traj.version === {_script_version()})"))
