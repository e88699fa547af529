"""Finding a demonstrated step's element again: a ladder of strategies, cheapest first.

A candidate must be unique, actionable, and *mean* the same control: same tag and role, a
matching accessible name, and the same surroundings (the label or heading of its form,
dialog, section or row) when the recording saw some. A selector that still matches but now
points at another control (a second "Submit" in a newsletter form) is rejected, never used.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from traj.browser import resolve_locator, take_snapshot

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from traj.eventlog import Action, Element

__all__ = ["LADDER", "Rung", "Target", "TargetNotFoundError", "find_target"]

LADDER = (
    "fingerprint",
    "test_id",
    "role",
    "label",
    "placeholder",
    "text",
    "text_fuzzy",
    "title",
    "css_id",
    "css",
    "xpath",
)
"""Strategies in the order they are tried: the most specific and cheapest first."""

_FUZZY_RATIO = 0.8
_IDENTITY_ATTRS = ("type", "name", "placeholder", "aria-label")


@dataclass(frozen=True)
class Target:
    """The element found for a step and how."""

    locator: Locator
    strategy: str
    value: str
    element: Element


@dataclass(frozen=True)
class Rung:
    """Why one strategy did not give the element (for the failure report)."""

    strategy: str
    value: str
    problem: str


class TargetNotFoundError(LookupError):
    """No strategy found exactly the demonstrated element."""

    def __init__(self, action: Action, tried: list[Rung]) -> None:
        self.tried = tried
        attempts = "; ".join(f"{r.strategy} {r.value!r}: {r.problem}" for r in tried) or "no locators recorded"
        super().__init__(f"step {action.step} ({action.kind} on {action.target}): element not found ({attempts})")


def find_target(
    page: Page, action: Action, recorded: Element, *, locators: list[tuple[str, str]] | None = None
) -> Target:
    """The one element on ``page`` that is ``recorded``, found by the first rung that works.

    ``locators`` overrides the action's own (e.g. healed ones from an earlier replay).
    Raises TargetNotFoundError listing what each rung found.
    """
    snapshot = take_snapshot(page, screenshot=False, mark_new=False)
    fresh = {element.agent_id: element for element in snapshot.elements}
    recorded_locators = dict(locators if locators is not None else action.locators)
    tried: list[Rung] = []
    for strategy in LADDER:
        for value in _values(strategy, recorded, recorded_locators, snapshot.elements):
            locator = resolve_locator(page, "agent_id" if strategy == "fingerprint" else _base(strategy), value)
            problem, element = _check(locator, recorded, action.context, fresh)
            if problem:
                tried.append(Rung(strategy, value, problem))
                continue
            assert element is not None
            return Target(locator, strategy, value, element)
    raise TargetNotFoundError(action, tried)


def _base(strategy: str) -> str:
    return "text" if strategy == "text_fuzzy" else strategy


def _values(strategy: str, recorded: Element, locators: dict[str, str], elements: list[Element]) -> list[str]:
    """The locator values to try for ``strategy``."""
    if strategy == "fingerprint":
        matches = [e.agent_id for e in elements if _fingerprint(e) == _fingerprint(recorded)]
        return matches if len(matches) == 1 else []
    if strategy == "text_fuzzy":
        if not recorded.text or "text" not in locators:
            return []
        texts = {e.text for e in elements if e.text and e.tag == recorded.tag}
        close = difflib.get_close_matches(recorded.text, list(texts), n=1, cutoff=_FUZZY_RATIO)
        return [c for c in close if c != recorded.text]
    value = locators.get(strategy)
    return [value] if value else []


def _fingerprint(element: Element) -> tuple[object, ...]:
    """What identifies a control regardless of ids, classes and position."""
    attrs = tuple(element.attrs.get(name, "") for name in _IDENTITY_ATTRS)
    return (element.tag, element.role, _norm(element.name), attrs)


def _check(locator: Locator, recorded: Element, context: str, fresh: dict[str, Element]) -> tuple[str, Element | None]:
    """'' and the fresh element when ``locator`` is exactly the recorded control, else the problem."""
    count = locator.count()
    if count != 1:
        return (f"{count} matches" if count else "no match"), None
    found = locator.evaluate("el => [window.__traj.agentIdOf(el), window.__traj.contextOf(el)]")
    agent_id, where = found
    element = fresh.get(agent_id)
    if element is None:
        return "matches an element that is not interactive", None
    if element.tag != recorded.tag or element.role != recorded.role:
        return f"matches a {element.role or element.tag}, not a {recorded.role or recorded.tag}", None
    if recorded.name and _norm(element.name) != _norm(recorded.name):
        ratio = difflib.SequenceMatcher(None, _norm(element.name), _norm(recorded.name)).ratio()
        if ratio < _FUZZY_RATIO:
            return f"matches {element.name!r}, not {recorded.name!r}", None
    if context and _norm(where) != _norm(context):
        return f"matches the control in {where or 'another place'!r}, not in {context!r}", None
    if not element.visible or element.attrs.get("disabled") is not None:
        return "matches a hidden or disabled element", None
    return "", element


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()
