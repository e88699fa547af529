"""What a demonstrated WAIT waited for, as a condition a replay waits for on a new instance.

The person waited for something to happen, not for a number of seconds: on another
instance it happens later, or sooner. A WAIT's condition is derived from the page the wait
began on and the page when the person acted next, bound to the replay's values:

- a number on the page that crossed one of the goal's thresholds during the wait (a
  variable the recorder found, :func:`traj.projections.crossing`): the replay waits until
  the same number is on the same side of the threshold's *new* value;
- otherwise the lines of text that appeared: those holding a variable's value (with the
  new value), else up to two lines without digits (a number the goal does not state, a
  price or a time, differs on the next instance).

Without either the replay waits as long as the person did. A person who acts as soon as the
number crossed may wait too briefly for the recorder to note a WAIT: the step they took then
waits for the crossing first. A condition may take up to ten
times the person's wait (at least the step timeout): the same event comes later on another
instance, but a run whose event never comes must end, failing the step with the condition
named rather than acting too early and reporting "ok".
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from playwright.sync_api import Error as PlaywrightError

from traj.projections import Demo, Quantity, crossing, goal_thresholds, occurs, swap_values, threshold_number
from traj.replay._failure import ConditionNotMetError

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["WaitCondition", "fold", "wait_budget", "wait_condition", "wait_until"]

_PATIENCE = 10
"""How many times the person's wait a condition may take."""
_MAX_TEXTS = 2
_MAX_LINE = 100
_POLL_S = 0.1
_PAGE_TEXT = "() => document.body ? document.body.innerText : ''"


@dataclass(frozen=True)
class WaitCondition:
    """What a replay waits for: ``quantity`` on its side of ``threshold``, else every one of ``texts``."""

    texts: tuple[str, ...] = ()
    quantity: Quantity | None = None
    threshold: str = ""
    """The threshold's bound value as the goal writes it ("$212")."""
    limit: float = 0.0
    """The threshold's number (212.0)."""

    def holds(self, text: str) -> bool:
        """Whether the page ``text`` shows what was waited for."""
        if self.quantity is not None:
            return self.quantity.holds(text, self.limit)
        shown = fold(text)
        return all(fold(line) in shown for line in self.texts)

    def describe(self) -> str:
        """The condition in words, for a failure's reason."""
        if self.quantity is not None:
            return self.quantity.describe(self.threshold)
        return "the text " + " and ".join(repr(line) for line in self.texts)


def wait_condition(demo: Demo, index: int, values: Mapping[str, str]) -> WaitCondition | None:
    """The condition step ``index`` waits for, bound to ``values`` (every variable's value in this
    run); None when the demonstration shows none.

    A WAIT waits for a threshold's crossing, else for the lines that appeared (without either
    the replay waits the person's time). Any other step waits first for a threshold's crossing
    the person acted on without a recorded WAIT (:meth:`~traj.projections.Demo.watched`); the
    text its page gained is what the previous step did, not a condition. Raises ConditionNotMetError
    when the threshold's bound value holds no number.
    """
    pages = demo.watched(index)
    if pages is None:
        return None
    before, after = (page.text for page in pages)
    step = demo.steps[index]
    thresholds = goal_thresholds(demo.started.goal)  # a typed amount is a number, but no threshold
    for name in demo.variables_of(step.action_id):
        default = demo.defaults.get(name, "")
        recorded = threshold_number(default) if default in thresholds else None
        quantity = crossing(before, after, recorded) if recorded is not None else None
        if quantity is None:
            continue
        bound = values.get(name, demo.defaults[name])
        limit = threshold_number(bound)
        if limit is None:
            raise ConditionNotMetError(
                f"step {step.action.step} ({step.action.kind}): {name} is {bound!r}, which holds no number to wait for"
            )
        return WaitCondition(quantity=quantity, threshold=bound, limit=limit)
    if step.action.kind != "WAIT":
        return None
    texts = _appeared(before, after, demo.defaults, values)
    return WaitCondition(texts=tuple(texts)) if texts else None


def wait_budget(recorded_s: float, timeout_s: float) -> float:
    """How long a condition may take: ten times the person's wait, at least the step timeout."""
    return max(_PATIENCE * recorded_s, timeout_s)


def wait_until(page: Page, condition: WaitCondition, budget_s: float) -> bool:
    """Poll the page's text until ``condition`` holds (True) or ``budget_s`` has passed (False).

    A page that cannot be read for a moment (a navigation under way) is read again at the next poll.
    """
    deadline = time.monotonic() + budget_s
    while True:
        try:
            if condition.holds(page.evaluate(_PAGE_TEXT)):
                return True
        except PlaywrightError:
            pass
        if time.monotonic() >= deadline:
            return False
        page.wait_for_timeout(_POLL_S * 1000)


def _appeared(before: str, after: str, defaults: Mapping[str, str], values: Mapping[str, str]) -> list[str]:
    """The awaited lines: new in ``after``, with the demo's values swapped for the bound ones.

    Lines holding a variable's value come first; a line with a digit that is no variable's
    value is left out (it is this instance's: an id, a price, a time).
    """
    seen = {fold(line) for line in before.splitlines()}
    named = {value for value in defaults.values() if len(value) >= 2}
    swaps = {old: values[name] for name, old in defaults.items() if old in named and values.get(name, old) != old}
    with_values: list[str] = []
    plain: list[str] = []
    for raw in after.splitlines():
        line = " ".join(raw.split())
        if not line or fold(line) in seen or len(line) > _MAX_LINE:
            continue
        holds = [value for value in named if occurs(line, value)]
        rest = swap_values(line, dict.fromkeys(holds, "")) if holds else line
        if any(ch.isdigit() for ch in rest):
            continue
        (with_values if holds else plain).append(swap_values(line, swaps) if holds else line)
    return list(dict.fromkeys(with_values + plain))[:_MAX_TEXTS]


def fold(text: str) -> str:
    """``text`` as lines are compared: runs of whitespace as one space, case folded."""
    return " ".join(text.split()).casefold()
