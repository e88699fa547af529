"""Finding a demonstrated step's element again: a ladder of strategies, cheapest first.

A candidate must be unique, actionable, and *mean* the same control: same tag and role, the
same accessible name, and the same surroundings (the label or heading of its form, dialog,
section or row) when the recording saw some. A selector that still matches but now points at
another control (a second "Submit" in a newsletter form) is rejected, never used.

"The same name" allows cosmetic differences only: case, spacing, punctuation and symbols
around the same words and numbers ("Next →" is "Next"). A different number, amount, date or
name is another control: "Book flight for $665" is never "Book flight for $65", and the
fuzzy text rung only offers texts that differ cosmetically. (The engine substitutes a
variable's new value into the recorded name before the ladder compares.)
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from traj.browser import describe_matches, matching_elements, resolve_locator
from traj.errors import TargetNotFoundError

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from traj.eventlog import Action, Element

__all__ = ["LADDER", "Rung", "Target", "find_target", "same_name"]

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
"""How close a text must be for the fuzzy rung to look at it (it must still have the same words)."""
_IDENTITY_ATTRS = ("type", "name", "placeholder", "aria-label")


@dataclass(frozen=True)
class Target:
    """The element found for a step and how."""

    locator: Locator
    strategy: str
    value: str
    agent_id: str


@dataclass(frozen=True)
class Rung:
    """Why one strategy did not give the element (for the failure report)."""

    strategy: str
    value: str
    problem: str


def find_target(
    page: Page, action: Action, recorded: Element, *, locators: list[tuple[str, str]] | None = None
) -> Target:
    """The one element on ``page`` that is ``recorded``, found by the first rung that works.

    ``locators`` overrides the action's own (e.g. healed ones from an earlier replay).
    Raises TargetNotFoundError listing what each rung found.
    """
    by_fingerprint = _by_fingerprint(page, recorded, action.context)
    if isinstance(by_fingerprint, Target):
        return by_fingerprint
    tried = [by_fingerprint]
    recorded_locators = dict(locators if locators is not None else action.locators)
    for strategy in LADDER[1:]:
        for value in _values(strategy, recorded, recorded_locators, page):
            locator = resolve_locator(page, _base(strategy), value)
            described = describe_matches(locator)
            if len(described) != 1:
                tried.append(Rung(strategy, value, f"{len(described)} matches" if described else "no match"))
                continue
            found = described[0]
            problem = "matches an element that is not interactive" if found is None else ""
            problem = problem or _problem(found, recorded, action.context)
            if problem:
                tried.append(Rung(strategy, value, problem))
                continue
            # A page still settling (a re-render, an element about to show) can fail the
            # fingerprint a moment before a lower rung finds the control: when the fingerprint
            # now finds that same control, the recorded identity held and nothing was healed.
            again = _by_fingerprint(page, recorded, action.context)
            if isinstance(again, Target) and again.agent_id == found["agent_id"]:
                return again
            return Target(locator, strategy, value, found["agent_id"])
    raise TargetNotFoundError(_not_found(action, tried), tried)


def _by_fingerprint(page: Page, recorded: Element, context: str) -> Target | Rung:
    """The one control with ``recorded``'s fingerprint, or the rung saying why there is none."""
    matches = matching_elements(page, _fingerprint(recorded))
    if len(matches) != 1:
        return Rung("fingerprint", "", f"{len(matches)} matches" if matches else "no match")
    found = matches[0]
    problem = _problem(found, recorded, context)
    if problem:
        return Rung("fingerprint", found["agent_id"], problem)
    agent_id = found["agent_id"]
    return Target(resolve_locator(page, "agent_id", agent_id), "fingerprint", agent_id, agent_id)


def _base(strategy: str) -> str:
    return "text" if strategy == "text_fuzzy" else strategy


def _values(strategy: str, recorded: Element, locators: dict[str, str], page: Page) -> list[str]:
    """The locator values to try for ``strategy``."""
    if strategy == "text_fuzzy":
        if not recorded.text or "text" not in locators:
            return []
        texts = page.evaluate(
            "tag => [...document.querySelectorAll(tag)].map(e => e.innerText.trim()).filter(Boolean)", recorded.tag
        )
        normalized = {_norm(text): text for text in texts}  # case and spacing are cosmetic
        close = difflib.get_close_matches(_norm(recorded.text), list(normalized), n=5, cutoff=_FUZZY_RATIO)
        found = (normalized[c] for c in close)
        return [text for text in found if text != recorded.text and same_name(text, recorded.text)][:1]
    value = locators.get(strategy)
    return [value] if value else []


def _fingerprint(element: Element) -> dict[str, object]:
    """What identifies a control regardless of ids, classes and position."""
    attrs = [[name, element.attrs.get(name, "")] for name in _IDENTITY_ATTRS]
    return {"tag": element.tag, "role": element.role, "name": _norm(element.name), "attrs": attrs}


def _problem(found: dict[str, Any], recorded: Element, context: str) -> str:
    """'' when ``found`` is the recorded control (same kind, name and place), else what differs."""
    if found["tag"] != recorded.tag or found["role"] != recorded.role:
        return f"matches a {found['role'] or found['tag']}, not a {recorded.role or recorded.tag}"
    label, found_label = recorded.name or recorded.text, found["name"] or found.get("text", "")
    if label and not same_name(found_label, label):  # a control without a name is known by its text
        return f"matches {found_label!r}, not {label!r}"
    if context and _norm(found["context"]) != _norm(context):
        return f"matches the control in {found['context'] or 'another place'!r}, not in {context!r}"
    if not found["visible"] or found["disabled"]:
        return "matches a hidden or disabled element"
    return ""


def same_name(found: str, recorded: str) -> bool:
    """Whether two names differ only cosmetically: the same words and numbers in the same
    order, whatever the case, spacing, punctuation and symbols around them."""
    return _words(found) == _words(recorded)


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", text.lower())


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _not_found(action: Action, tried: list[Rung]) -> str:
    attempts = "; ".join(f"{r.strategy} {r.value!r}: {r.problem}" for r in tried) or "no locators recorded"
    return f"step {action.step} ({action.kind} on {action.target}): element not found ({attempts})"
