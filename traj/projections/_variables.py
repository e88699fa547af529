"""A demonstration's variables, derived from its goal when it is recorded.

The goal says what changes from one instance of a task to the next: every typed or
selected value that occurs in it is a variable (named after the field's label; a value the
goal writes in another form, "02/26/2016" for a date field's "2016-02-26", has the goal's
rendering as its value: :mod:`traj.projections._forms`), and so is
every clicked element's name or text that occurs in it as written, past the sentence's
first word (a button, link, tab, option, checkbox or list item, named after its role), or
the part of that name that is one of the goal's values ("Book flight for $65" carries
"$65"; a calendar slot "Wednesday, July 9, 09:00" carries the day and the time), and every
number the goal compares with that a number on the page crossed while the person waited
("below $212": the WAIT carries it, or the step they took as soon as it crossed;
:mod:`traj.projections._crossing`). The goal
with those values cut out is the template a new goal is bound by (:mod:`traj.replay`), so
no page has to state its values anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from traj.eventlog import DemoVariables
from traj.projections._crossing import crossing, goal_thresholds, threshold_number
from traj.projections._forms import goal_rendering
from traj.projections._template import goal_template, occurrences, occurs, value_spans

if TYPE_CHECKING:
    from traj.eventlog import Element
    from traj.projections._demo import Demo, DemoStep

__all__ = ["derive_variables"]

_TEXT_ENTRY = frozenset({"textbox", "searchbox", "combobox", "spinbutton"})
"""Roles of fields a click only focuses: their value is the variable, not their label."""
_UNTARGETED = frozenset({"NAVIGATE", "WAIT", "SCROLL", "TYPE", "SELECT"})
_MAX_OPTIONS = 50


def derive_variables(demo: Demo, named: Mapping[str, str] | None = None) -> DemoVariables | None:
    """The variables of ``demo`` as its goal names them (None when it names none).

    ``named`` (name -> value) are variables the person named when recording: the TYPE and
    SELECT steps with exactly that value carry them, under that name, even where the goal
    does not say the value (such a variable can then only be given, never bound from a goal).
    """
    found = _Found(demo.started.goal, dict(named or {}))
    for step in demo.steps:
        action, element = step.action, step.target
        if action.kind in ("TYPE", "SELECT"):
            stated = found.stated(action.value) if isinstance(action.value, str) else None
            if stated is not None:
                found.link(found.variable(stated, _slug(element.name if element else "")), step.action_id)
        elif action.kind not in _UNTARGETED and element is not None and element.role not in _TEXT_ENTRY:
            found.target(step, element)
    thresholds = goal_thresholds(demo.started.goal)
    for index, step in enumerate(demo.steps):
        for value in _waited_thresholds(demo, index, thresholds):
            found.link(found.variable(value, "threshold"), step.action_id)
    if not found.variables:
        return None
    return DemoVariables(
        demo_id=demo.demo_id,
        variables=found.variables,
        defaults=found.defaults,
        template=goal_template(demo.started.goal, found.defaults, free=found.spans),
        options=found.options,
    )


def _waited_thresholds(demo: Demo, index: int, values: list[str]) -> list[str]:
    """Those of the goal's threshold ``values`` that a number on the page crossed before step
    ``index`` (:meth:`Demo.watched`): the person waited for it to get to the other side."""
    pages = demo.watched(index)
    crossed = []
    for value in values:
        number = threshold_number(value)
        if pages is not None and number is not None and crossing(pages[0].text, pages[1].text, number) is not None:
            crossed.append(value)
    return crossed


class _Found:
    """The variables found so far, one per distinct value (the same city typed on two sites is one)."""

    def __init__(self, goal: str, named: dict[str, str]) -> None:
        self.goal, self.named = goal, named
        self.spans = value_spans(goal)
        self.variables: dict[str, list[str]] = {}
        self.defaults: dict[str, str] = {}
        self.options: dict[str, list[str]] = {}
        self._by_value: dict[str, str] = {}

    def stated(self, value: str) -> str | None:
        """The value a typed or selected ``value`` is a variable with (None when it is none):
        itself when the person named it or the goal states it as written, else the goal's
        rendering of it ("02/26/2016" for a date field's "2016-02-26"), else itself when the
        goal states it in another case that no conversion explains (:mod:`traj.projections._forms`)."""
        if not value.strip():
            return None
        if any(_key(v) == _key(value) for v in self.named.values()):
            return value
        rendering = goal_rendering(self.goal, value)
        if rendering is not None:
            return rendering
        return value if occurs(self.goal, value) else None

    def variable(self, value: str, base: str) -> str:
        """The variable whose value is ``value``, created (uniquely named after ``base``) if new."""
        key = _key(value)
        if key not in self._by_value:
            name = next((n for n, v in self.named.items() if _key(v) == key), None) or self._unique(base or "value")
            self._by_value[key] = name
            self.variables[name], self.defaults[name] = [], value
        return self._by_value[key]

    def link(self, name: str, action_id: str) -> None:
        if action_id not in self.variables[name]:
            self.variables[name].append(action_id)

    def target(self, step: DemoStep, element: Element) -> None:
        """Link a clicked element to the variables its name is, or contains."""
        label = " ".join((element.name or element.text).split())
        if not label:
            return
        base = element.role or element.tag
        if self._names(label):
            name = self.variable(label, base)
            self.link(name, step.action_id)
            self.options.setdefault(name, _alternatives(step, element))
            return
        taken: list[tuple[int, int]] = []
        for value in sorted({*self.defaults.values(), *self.spans}, key=len, reverse=True):
            for start, end in occurrences(label, value):
                if all(end <= s or start >= e for s, e in taken):
                    taken.append((start, end))
                    self.link(self.variable(value, base), step.action_id)

    def _names(self, label: str) -> bool:
        """Whether the goal names a control ``label``: as written, and not as the sentence's first
        word ("save" in "... and save" and "Book" in "Book a room" are verbs, not the buttons)."""
        for start, _ in occurrences(self.goal, label, same_case=True):
            before = self.goal[:start].rstrip()
            if before and before[-1] not in ".!?:":
                return True
        return False

    def _unique(self, base: str) -> str:
        name, n = base, 2
        while name in self.variables:
            name, n = f"{base}_{n}", n + 1
        return name


def _alternatives(step: DemoStep, element: Element) -> list[str]:
    """The names of the elements of the same kind the page showed beside ``element``."""
    names = (
        " ".join((e.name or e.text).split())
        for e in step.observation.elements
        if e.role == element.role and e.tag == element.tag
    )
    return list(dict.fromkeys(n for n in names if n))[:_MAX_OPTIONS]


def _slug(label: str) -> str:
    """A variable name from a field's label: "Amount (USD)" -> "amount", "Employee name" -> "employee_name"."""
    words = re.findall(r"[a-z0-9]+", re.sub(r"\([^)]*\)", " ", label).lower())
    return "_".join(words)


def _key(value: str) -> str:
    return " ".join(value.split()).lower()
