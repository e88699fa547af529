"""The goal's values, and the ``$N`` references a model writes for them.

A value the goal states (a name, a date, an amount, a quoted description) is written in an
action as its number among the goal's values: ``{"kind":"TYPE","target":"4","value":"$3"}``,
with the prompt's ``Values:`` line saying that ``$3`` is ``282.78`` for this goal. Every
model-facing text does so (the history, the demonstration, the training targets), and the
agent turns a reference back into the goal's text before it acts; the event log only ever
holds the text typed.

Why: the goals of one task differ in their values, not their shape, so the demonstrated
``$3`` is the right answer on every instance of the task, while ``282.78`` is right on one. A
model learns from one demonstration which of the goal's values goes where (the task's
procedure) without having to look each value up by its meaning on every instance, a skill
that takes far more than a small model has. A larger model reads the ``Values:`` line and
picks the reference as easily as the text.

Only a TYPE's or SELECT's value is written so (a key, a URL, an answer are written as they
are). The values are numbered by where they start in the goal, so goals written from one
template number theirs alike: quoted spans, email addresses, runs of characters with digits
(amounts, dates, times, ids; a leading currency sign dropped), and runs of capitalised words
(names, titles, categories), without overlaps, each text once. A sentence's first word is not part of a value
(``Submit ...``, ``Send 4 to Di``): it is capitalised for being first.
"""

from __future__ import annotations

import functools
import re

import msgspec

from traj.errors import ParseError
from traj.prompt._action import AgentAction

__all__ = ["goal_values", "refer_values", "render_goal_values", "resolve_values", "value_reference"]

QUOTED = re.compile(r"\"([^\"\n]{1,80})\"|“([^”\n]{1,80})”|'([^'\n]{2,80})'")
"""A quoted span (straight or curly quotes): its text is the value."""
WITH_DIGIT = re.compile(r"[$€£]?\d[\w:./-]*\d|\b\d\b")
"""A run with digits: an amount, a date, a time, an id."""
_PARTICLES = "de|da|di|do|dos|du|del|della|der|den|la|le|van|von|bin|ibn|al|y"
CAPITALISED = re.compile(rf"\b[A-Z][\w'&.-]*(?:\s+(?:(?:{_PARTICLES})\s+)*[A-Z0-9][\w'&.-]*)*")
"""A run of capitalised words (a name, a title), with the lowercase particles of names (``Ana de Souza``)."""
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
"""An email address."""
_REFERENCE = re.compile(r"\$(\d{1,3})")
_MAX_VALUE = 80
_VALUED = frozenset({"TYPE", "SELECT"})
"""The kinds whose value may be one of the goal's (a key, a URL, an answer is written as it is)."""
_SENTENCE_END = (".", "!", "?")


@functools.lru_cache(maxsize=256)
def goal_values(goal: str) -> tuple[str, ...]:
    """The values ``goal`` states, in the order they start in it (see the module's docstring)."""
    spans: list[tuple[int, int, str]] = []
    for match in QUOTED.finditer(goal):
        group = next(index for index in (1, 2, 3) if match[index])
        spans.append((match.start(group), match.end(group), match[group]))
    for match in EMAIL.finditer(goal):
        spans.append((match.start(), match.end(), match[0]))
    for match in WITH_DIGIT.finditer(goal):
        spans.append((match.start(), match.end(), match[0].lstrip("$€£")))
    for match in CAPITALISED.finditer(goal):
        start, text = match.start(), match[0].rstrip(".,;:")
        before = goal[:start].rstrip()
        if not before or before.endswith(_SENTENCE_END):  # capitalised as a sentence's first word
            first, _, text = text.partition(" ")
            start += len(first) + 1
        if text:
            spans.append((start, start + len(text), text))
    values: dict[str, None] = {}
    taken_to = -1
    for start, end, text in sorted(spans, key=lambda span: (span[0], -span[1])):
        if start < taken_to:
            continue  # inside a value already taken (a digit in a quoted span, a word in a run)
        taken_to = end
        value = " ".join(text.split())
        if value and len(value) <= _MAX_VALUE:
            values.setdefault(value, None)
    return tuple(values)


def value_reference(number: int) -> str:
    """How a model writes the goal's value ``number`` (from 1)."""
    return f"${number}"


def render_goal_values(goal: str) -> str:
    """The prompt's line that numbers the goal's values, empty when it states none."""
    values = goal_values(goal)
    if not values:
        return ""
    return "Values: " + "; ".join(f"{value_reference(n)} = {value}" for n, value in enumerate(values, start=1))


def refer_values(action_text: str, goal: str) -> str:
    """``action_text`` (an action's canonical JSON) with a value of ``goal`` written as its reference.

    Any other text (a model's raw output in the history, an action with another value) is
    returned as it is.
    """
    try:
        action = msgspec.json.decode(action_text, type=AgentAction)
    except msgspec.DecodeError:
        return action_text
    if action.kind not in _VALUED or not isinstance(action.value, str):
        return action_text
    number = _stated(action.kind, action.value, goal_values(goal))
    if number is None:
        return action_text
    reference = value_reference(number)
    return msgspec.json.encode(msgspec.structs.replace(action, value=reference)).decode()


def _stated(kind: str, typed: str, values: tuple[str, ...]) -> int | None:
    """The number of the goal's value that ``typed`` is: the value itself, or for a SELECT the one
    the option's label begins with (the goal's ``Office`` for ``Office supplies``, as the executor's
    select picks it)."""
    if typed in values:
        return values.index(typed) + 1
    if kind != "SELECT":
        return None
    begun = [n for n, value in enumerate(values, start=1) if typed.startswith(value + " ")]
    return begun[0] if len(begun) == 1 else None


def resolve_values(action: AgentAction, goal: str) -> AgentAction:
    """``action`` with a reference to one of ``goal``'s values replaced by the value's text.

    Raises :class:`ParseError` for a reference past the goal's values (``$7`` of five), which
    the agent feeds back to the model like any unreadable answer.
    """
    if action.kind not in _VALUED or not isinstance(action.value, str):
        return action
    match = _REFERENCE.fullmatch(action.value.strip())
    if match is None:
        return action
    values = goal_values(goal)
    number = int(match[1])
    if not 1 <= number <= len(values):
        stated = f"states {len(values)}" if values else "states none"
        raise ParseError(f"no goal value {action.value.strip()}: the goal {stated}")
    return msgspec.structs.replace(action, value=values[number - 1])
