"""Success specs: what a demo's end state looked like, derived when it is recorded, checked on a page.

A site that states no predicate of its own (no ``window.traj.check()``) still has an end
state a person can see: the page the task led to, the confirmation that appeared after the
last action. :func:`derive_success_spec` turns the recording's last two observations into a
:class:`~traj.eventlog.SuccessSpec`, leaving out what would differ on the next instance (the
demo's variable values become ``{name}``, lines with other numbers are dropped, numbers in
the URL match any number). :func:`judge_success` checks a spec on a live page; "unknown"
(``None``) is never success.

A derived spec only knows what the demonstration's end looked like. Where a run used other
values than the demonstration, an end that looks the same is no proof: a form saved with the
wrong amount says "Saved" too, and a page whose every answer ends in the same screen (a quiz,
a game's "play again") shows it after the wrong button as after the right one. So a derived
spec confirms such a run only where its texts show each changed value (``{name}``); otherwise
the verdict is unknown, never success.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from traj.browser._page_task import page_verdict
from traj.errors import TrajError, first_line
from traj.eventlog import SuccessSpec

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = [
    "SuccessVerdict",
    "check_success",
    "derive_success_spec",
    "judge_success",
    "make_success_spec",
    "unconfirmed_values",
]

_MAX_TEXTS = 2
_MAX_LINE = 100
_POLL_S = 0.1
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ANY_ORIGIN = r"^[a-z][a-z0-9+.-]*://[^/]*"


@dataclass(frozen=True)
class SuccessVerdict:
    """The outcome of checking a spec: True, False, or None when it cannot be known; and why."""

    success: bool | None
    detail: str = ""


def make_success_spec(
    *, url: str = "", texts: Sequence[str] = (), js: str = "", page_check: bool = False
) -> SuccessSpec:
    """A spec the user states (``--success-url/--success-text/--success-js``), checked before use.

    A URL pattern that is not a regular expression or a blank text is one-line TrajError, so
    a bad spec is refused before anything is recorded.
    """
    try:
        re.compile(url)
    except re.error as exc:
        raise TrajError(f"success URL pattern {url!r} is not a regular expression: {exc}") from None
    if any(not text.strip() for text in texts):
        raise TrajError("a success text must not be blank")
    return SuccessSpec(url=url, texts=[" ".join(text.split()) for text in texts], js=js.strip(), page_check=page_check)


def derive_success_spec(
    start_url: str, before: str, final_url: str, final_text: str, variables: Mapping[str, str], *, page_check: bool
) -> SuccessSpec:
    """The spec a recording's end state implies.

    ``before`` is the page text the last action was decided in, ``final_*`` the page at the
    end. With ``page_check`` (the page has ``window.traj.check()``) the page's own predicate
    is the spec: it knows more than any text. Otherwise the spec is the URL reached (when
    the task moved to another page) and up to two lines of text that appeared after the last
    action. An end state with neither gives an empty spec: success stays unknown.
    """
    if page_check:
        return SuccessSpec(page_check=True)
    seen = {_norm(line) for line in before.splitlines()}
    texts: list[str] = []
    for raw in final_text.splitlines():
        line = " ".join(raw.split())
        if not line or _norm(line) in seen or len(line) > _MAX_LINE:
            continue
        templated = _templated(line, variables)
        if any(ch.isdigit() for ch in _PLACEHOLDER.sub("", templated)):
            continue  # a number not from the goal (an id, a time, a price) differs on the next instance
        if templated not in texts:
            texts.append(templated)
        if len(texts) == _MAX_TEXTS:
            break
    return SuccessSpec(url=_url_pattern(start_url, final_url, variables), texts=texts)


def judge_success(
    page: Page,
    spec: SuccessSpec | None,
    variables: Mapping[str, str] | None = None,
    *,
    timeout_s: float = 2.0,
    unconfirmed: Collection[str] = (),
) -> SuccessVerdict:
    """Check ``spec`` on ``page``, waiting up to ``timeout_s`` for the page to get there.

    ``variables`` fill the ``{name}`` placeholders of the spec's texts (the values the run
    was bound to). ``unconfirmed`` (see :func:`unconfirmed_values`) are the run's values the
    spec cannot vouch for: with any, a spec that holds gives unknown. Unknown (``None``): no
    spec, an empty one, a page check on a page without ``window.traj.check()``, or a
    placeholder with no value.
    """
    if spec is None or spec.empty:
        return SuccessVerdict(None, "no success spec")
    values = dict(variables or {})
    missing = sorted({name for text in spec.texts for name in _PLACEHOLDER.findall(text)} - set(values))
    if missing:
        return SuccessVerdict(None, f"the success spec needs a value for {', '.join(missing)}")
    texts = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], text) for text in spec.texts]
    from playwright.sync_api import Error as PlaywrightError  # here: the light core imports this module

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            verdict = _judge_once(page, spec, texts)
        except PlaywrightError as exc:  # the page closed or crashed: nothing left to look at
            return SuccessVerdict(None, f"the page cannot be checked: {first_line(exc)}")
        if verdict.success and unconfirmed:
            return SuccessVerdict(
                None,
                f"the page ended as the demonstration did, but shows nothing of this run's "
                f"{', '.join(sorted(unconfirmed))}, which that end looks the same without: give the demo a "
                "success spec that checks them (traj demos success --text/--js)",
            )
        if verdict.success is not False or time.monotonic() >= deadline:
            return verdict
        page.wait_for_timeout(_POLL_S * 1000)


def unconfirmed_values(spec: SuccessSpec | None, source: str, changed: Collection[str]) -> list[str]:
    """Those of ``changed`` (variables a run gave other values than the demonstration) that
    ``spec`` cannot vouch for: a spec derived from the end state (``source``) vouches only for
    the values its texts show; the page's own check, JavaScript and a spec the user stated
    vouch for everything."""
    if spec is None or source != "derived" or spec.page_check or spec.js:
        return []
    shown = {name for text in spec.texts for name in _PLACEHOLDER.findall(text)}
    return sorted(set(changed) - shown)


def check_success(
    page: Page, spec: SuccessSpec | None, variables: Mapping[str, str] | None = None, *, timeout_s: float = 2.0
) -> bool | None:
    """:func:`judge_success` without the detail: True, False, or None (unknown)."""
    return judge_success(page, spec, variables, timeout_s=timeout_s).success


def _judge_once(page: Page, spec: SuccessSpec, texts: list[str]) -> SuccessVerdict:
    from playwright.sync_api import Error as PlaywrightError

    if spec.url and not re.search(spec.url, page.url):
        return SuccessVerdict(False, f"the page {page.url} does not match {spec.url!r}")
    if texts:
        shown = _norm(page.evaluate("() => document.body ? document.body.innerText : ''"))
        absent = next((text for text in texts if _norm(text) not in shown), None)
        if absent is not None:
            return SuccessVerdict(False, f"the page does not show {absent!r}")
    if spec.js:
        try:
            if not page.evaluate(spec.js):
                return SuccessVerdict(False, f"{spec.js!r} is false on the page")
        except PlaywrightError as exc:
            return SuccessVerdict(False, f"{spec.js!r} failed: {first_line(exc)}")
    if spec.page_check:
        verdict = page_verdict(page)
        if verdict is None:
            return SuccessVerdict(None, "the page has no window.traj.check()")
        if not verdict:
            return SuccessVerdict(False, "the page's window.traj.check() says the task is not done")
    return SuccessVerdict(True)


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _templated(line: str, variables: Mapping[str, str]) -> str:
    """``line`` with each variable's value (longest first, two characters or more, as whole words:
    a button "Book" is not the start of "Booking") as ``{name}``."""
    for name, value in sorted(variables.items(), key=lambda item: -len(item[1])):
        if len(value) >= 2:
            pattern = r"(?<!\w)" + re.escape(value) + r"(?!\w)"
            line = re.sub(pattern, "{" + name + "}", line, flags=re.IGNORECASE)
    return line


def _url_pattern(start_url: str, final_url: str, variables: Mapping[str, str]) -> str:
    """A pattern for the page the task ended on; '' when it never left the start page.

    Path and fragment are kept (a new host or query is not what a task reaches); a variable's
    value in them matches any segment, a number any number.
    """
    start, final = urllib.parse.urlsplit(start_url), urllib.parse.urlsplit(final_url)
    if (start.path, start.fragment) == (final.path, final.fragment):
        return ""
    place = final.path + (f"#{final.fragment}" if final.fragment else "")
    pattern = re.escape(place)
    for value in sorted(variables.values(), key=len, reverse=True):
        for spelling in {value, urllib.parse.quote(value)}:
            if len(spelling) >= 2:
                pattern = pattern.replace(re.escape(spelling), "[^/?#]+")
    pattern = re.sub(r"\d+", r"\\d+", pattern)
    return _ANY_ORIGIN + pattern + ("$" if final.fragment else r"(?:[?#]|$)")
