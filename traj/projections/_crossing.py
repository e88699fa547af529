"""Numbers that crossed a goal's threshold: what a person watching a page waited for.

"As soon as it drops below $212, press ..." asks the person to wait until a number on the
page is below the goal's number. A demonstration shows it as a WAIT whose page had the
number on one side of the goal's number before and has it on the other side after. The
goal's number is then a variable of the demo (:mod:`traj.projections._variables`), and a
replay waits until the same number on the page is on the same side of the *new* goal's number.

A number on the page is found by its line's shape (the line with every number as ``#``)
and its place among the lines of that shape, so it is found again when the numbers differ,
as on another instance. Only goal numbers after a comparison word ("below", "more than",
...) are thresholds: a day of the month a week's navigation crossed is no condition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from traj.projections._template import occurrences, value_spans

__all__ = ["Quantity", "crossing", "goal_thresholds", "threshold_number"]

_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")
_COMPARISON = re.compile(
    r"(?:below|under|beneath|above|over|exceeds?|(?:less|fewer|more|lower|higher|cheaper|greater)\s+than"
    r"|at\s+(?:least|most)|(?:drops?|falls?|rises?|goes)\s+(?:to|past))\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Quantity:
    """A number on the page: the ``number``-th number of the ``nth`` line shaped like ``shape``,
    and the side of the threshold the person waited for (``below``, else above)."""

    shape: str
    nth: int
    number: int
    below: bool

    def read(self, text: str) -> float | None:
        """The quantity's value in the page ``text``; None when the page shows no such line."""
        lines = [line for line in _lines(text) if _shape(line) == self.shape]
        if self.nth >= len(lines):
            return None
        return _numbers(lines[self.nth])[self.number]

    def holds(self, text: str, threshold: float) -> bool:
        """Whether the page ``text`` shows the quantity on the awaited side of ``threshold``."""
        value = self.read(text)
        return value is not None and (value < threshold if self.below else value > threshold)

    def describe(self, threshold: str) -> str:
        """The condition in words: 'the number in "$#" below $212'."""
        return f"the number in {self.shape!r} {'below' if self.below else 'above'} {threshold}"


def goal_thresholds(goal: str) -> list[str]:
    """The values the goal compares with, as written ("below $212" -> "$212"): its value spans
    that hold exactly one number and follow a comparison word."""
    found = []
    for span in value_spans(goal):
        if threshold_number(span) is None:
            continue
        if any(_COMPARISON.search(goal[:start]) for start, _ in occurrences(goal, span)):
            found.append(span)
    return found


def threshold_number(value: str) -> float | None:
    """The number ``value`` holds ("$212" -> 212.0); None unless it holds exactly one."""
    numbers = _NUMBER.findall(value)
    return _number(numbers[0]) if len(numbers) == 1 else None


def crossing(before: str, after: str, threshold: float) -> Quantity | None:
    """The first number (in the page's reading order) that was on one side of ``threshold`` in
    the page text ``before`` and is strictly on the other side in ``after``; None if none is."""
    seen: dict[tuple[str, int], list[float]] = dict(_quantities(before))
    for (shape, nth), now in _quantities(after):
        then = seen.get((shape, nth))
        for index, (old, new) in enumerate(zip(then or [], now, strict=False)):
            if new < threshold <= old or old <= threshold < new:
                return Quantity(shape, nth, index, below=new < threshold)
    return None


def _quantities(text: str) -> list[tuple[tuple[str, int], list[float]]]:
    """Each line holding numbers, keyed by its shape and its place among lines of that shape."""
    counts: dict[str, int] = {}
    found = []
    for line in _lines(text):
        numbers = _numbers(line)
        if not numbers:
            continue
        shape = _shape(line)
        counts[shape] = counts.get(shape, -1) + 1
        found.append(((shape, counts[shape]), numbers))
    return found


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _shape(line: str) -> str:
    return _NUMBER.sub("#", line)


def _numbers(line: str) -> list[float]:
    return [_number(match) for match in _NUMBER.findall(line)]


def _number(text: str) -> float:
    return float(text.replace(",", ""))
