"""The forms a goal writes a value in, and what a person types for it.

A goal says "Enter 02/26/2016 as the date" and the date field takes "2016-02-26"; it says
'Type "BdhK" in all lower case letters' and the person types "bdhk". The demonstration shows
one pair (the goal's rendering, the typed value); the conversion that explains it, from a
small explicit family, turns a new goal's value into what to type. Pure text: no browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime

from traj.projections._template import occurrences, value_spans

__all__ = ["goal_rendering", "retyped"]

_WEEKDAY = re.compile(
    r"^(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day|mon|tue|wed|thu|fri|sat|sun)\.?,?\s+", re.IGNORECASE
)
_EDGE = ".,;:!?()[]{}\"'“”‘’«»"
_Run = tuple[int, int, int, str]
"""(value, first word, word after the last, text): a run of words of one of the goal's values."""
_MAX_WORDS = 4
"""The longest run of a value's words read as a date or time ("Friday, February 26, 2016"); a
longer value is read whole only (a quoted sentence typed in lower case)."""


def _parsed_as(patterns: tuple[str, ...], typed: str, *, weekday: bool = False) -> Callable[[str], str | None]:
    """A conversion of a text that reads as one of ``patterns`` (``strptime``) to its ``typed`` form."""

    def convert(text: str) -> str | None:
        text = " ".join(text.split())
        if weekday:  # "Friday, February 26, 2016": the weekday adds nothing the date does not say
            text = _WEEKDAY.sub("", text)
        for pattern in patterns:
            try:
                return datetime.strptime(text, pattern).strftime(typed)
            except ValueError:
                continue
        return None

    return convert


_NAMED_MONTH = ("%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y")

_CONVERSIONS: tuple[Callable[[str], str | None], ...] = (
    lambda text: text,
    str.lower,
    str.upper,
    _parsed_as(("%m/%d/%Y",), "%Y-%m-%d"),  # month-first before day-first: 02/03/2016 is Feb 3
    _parsed_as(("%d/%m/%Y", "%d.%m.%Y"), "%Y-%m-%d"),
    _parsed_as(("%Y/%m/%d",), "%Y-%m-%d"),
    _parsed_as(_NAMED_MONTH, "%Y-%m-%d", weekday=True),
    _parsed_as(("%I:%M %p", "%I:%M%p", "%H:%M"), "%H:%M"),  # 3:36 PM, 3:36pm, 15:36 -> 15:36
)
"""Goal form -> typed form, in order of preference: the first that reproduces an example is the
one a new value takes. Dates are typed as ISO ``YYYY-MM-DD`` and times as 24-hour ``HH:MM``, the
values of ``<input type=date>`` and ``<input type=time>``."""


def goal_rendering(goal: str, typed: str) -> str | None:
    """The part of ``goal`` that ``typed`` is a form of; None when the goal does not state it.

    ``typed`` itself when it stands in the goal as written (spacing aside), so a value the goal
    states as typed keeps its text; otherwise the longest text that one of the conversions reads
    and turns into ``typed``, among the goal's values (:func:`value_spans`), their runs of words
    and the places ``typed`` stands in another case. Only whole readings count: "3:36" in
    "3:36 PM" is no morning time.
    """
    if not typed.strip():
        return None
    if next(occurrences(goal, typed, same_case=True), None) is not None:
        return typed
    runs = [run for run in _runs(goal, typed) if run[3]]
    for conversion in _CONVERSIONS[1:]:
        read = {run: conversion(run[3]) for run in runs}
        read = {run: value for run, value in read.items() if value is not None}
        whole = [run for run in read if not any(_within(run, other) for other in read if other[0] == run[0])]
        for run in sorted(whole, key=lambda run: -len(run[3])):
            if read[run] == typed:
                return run[3]
    return None


def retyped(example_goal_value: str, example_typed: str, new_goal_value: str) -> str:
    """What to type for ``new_goal_value``, by the conversion that turned the example's goal
    value into what was typed (the first of the family, so "02/03/2016" typed "2016-02-03" is
    month-first).

    ``new_goal_value`` as it is when no conversion explains the example or it does not read in
    that form: the replay's check of the field's value then reports the mismatch.
    """
    for conversion in _CONVERSIONS:
        if conversion(example_goal_value) == example_typed:
            return conversion(new_goal_value) or new_goal_value
    return new_goal_value


def _runs(goal: str, typed: str) -> Iterator[_Run]:
    """Each run of words of the goal's values, and of each place ``typed`` stands in the goal in
    another case (a value of its own)."""
    spans = [span.split() for span in value_spans(goal)]
    spans += [goal[start:end].split() for start, end in occurrences(goal, typed)]
    for index, words in enumerate(spans):
        for start in range(len(words)):
            for end in range(start + 1, min(start + _MAX_WORDS, len(words)) + 1):
                yield index, start, end, " ".join(words[start:end]).strip(_EDGE)
        if len(words) > _MAX_WORDS:
            yield index, 0, len(words), " ".join(words).strip(_EDGE)


def _within(run: _Run, other: _Run) -> bool:
    """Whether ``run`` is a strict part of ``other`` (in the same value)."""
    return run != other and run[0] == other[0] and other[1] <= run[1] and run[2] <= other[2]
