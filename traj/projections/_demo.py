"""A recorded demonstration as the replay engine, enrichment and the training feed read it.

Loading a demo is a fold over its stream's events (later ``locators.healed``,
``demo.variables`` and ``demo.success`` events add to it), so it is a projection like the views: events only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from traj.errors import TrajError
from traj.projections._forms import retyped
from traj.projections._template import goal_template, value_spans

if TYPE_CHECKING:
    from traj.eventlog import Action, DemoStarted, Element, Event, Observation, Secret, Store, SuccessSpec

__all__ = ["Demo", "DemoStep", "demo_from", "load_demo"]


@dataclass(frozen=True)
class DemoStep:
    """One decision: the observation it was made in, and the action."""

    observation: Observation
    action: Action
    action_id: str

    @property
    def target(self) -> Element | None:
        """The acted element as the observation recorded it (None for untargeted actions)."""
        if self.action.target is None:
            return None
        return next((e for e in self.observation.elements if e.agent_id == self.action.target), None)


@dataclass(frozen=True)
class Demo:
    """A demonstration: how it started, its steps, its final observation, and what later events added."""

    demo_id: str
    started: DemoStarted
    steps: list[DemoStep]
    final: Observation | None
    success: bool | None
    healed: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """action_id -> locators a replay found to work (the latest healing wins)."""
    variables: dict[str, list[str]] = field(default_factory=dict)
    """variable name -> ids of the actions that carry it (as their value, or in their target's name)."""
    success_spec: SuccessSpec | None = None
    """What the end state looks like (the latest ``demo.success``); None for a demo recorded without one."""
    success_source: str = ""
    """Who stated ``success_spec``: ``derived`` (from the end state when recorded) or ``user``."""
    chosen: dict[str, tuple[Element, str]] = field(default_factory=dict)
    """action_id -> the control (and its surroundings) the model fallback chose for the step, when the
    latest healing came from the model: later replays look for that control, not the recorded one."""
    defaults: dict[str, str] = field(default_factory=dict)
    """variable name -> the value the demonstration used."""
    template: str = ""
    """The goal with the variables' values cut out as ``{name}`` ('' without variables)."""
    options: dict[str, list[str]] = field(default_factory=dict)
    """variable name -> the other values the page offered (tabs, options, buttons of the same kind)."""
    finished_id: str | None = None
    """event_id of the event that ended the demonstration (``demo.finished``); None while it is recorded."""
    answer: str | None = None
    """What the person answered, for a task that asks a question (``demo.finished``'s)."""

    @property
    def concluded(self) -> bool:
        """The person ended the demonstration with the task done (not a failure, not cut off), so
        its last decision, on :attr:`final`, is to FINISH (:func:`traj.prompt.finish_step`); False
        when its last step already is one."""
        ended = self.finished_id is not None and self.success is not False
        return ended and not (self.steps and self.steps[-1].action.kind == "FINISH")

    def variable_of(self, action_id: str) -> str | None:
        """The (first) variable an action carries, if any."""
        return next((name for name, ids in self.variables.items() if action_id in ids), None)

    def variables_of(self, action_id: str) -> list[str]:
        """Every variable an action carries (a slot named "Wednesday, July 9, 09:00" carries two)."""
        return [name for name, ids in self.variables.items() if action_id in ids]

    def value_of(self, step: DemoStep, values: Mapping[str, str]) -> str | Secret | None:
        """What ``step`` types or selects in a run whose variables have ``values``: the recorded value,
        unless the step carries one of them; then that value in the form the demonstration typed
        its own ("2017-03-05" for a goal's "03/05/2017" where the goal's "02/26/2016" was typed
        "2016-02-26": :func:`retyped`)."""
        action, variable = step.action, self.variable_of(step.action_id)
        if action.kind not in ("TYPE", "SELECT") or variable is None or variable not in values:
            return action.value
        example = self.defaults.get(variable)
        if not isinstance(action.value, str) or example is None:
            return values[variable]
        return retyped(example, action.value, values[variable])

    def after(self, index: int) -> Observation | None:
        """The page once step ``index`` was done: when the person acted next, or at the end."""
        return self.steps[index + 1].observation if index + 1 < len(self.steps) else self.final

    def watched(self, index: int) -> tuple[Observation, Observation] | None:
        """The pages before and after what the person may have waited for at step ``index``.

        A WAIT's: its page and the page when they acted next. Any other step's (but the first,
        and one a WAIT came before, which covers it): the previous step's page and its own, as a
        person who acts as soon as the page changes waits too briefly for a WAIT to be recorded.
        """
        step = self.steps[index]
        if step.action.kind == "WAIT":
            after = self.after(index)
            return (step.observation, after) if after is not None else None
        if index == 0 or self.steps[index - 1].action.kind == "WAIT":
            return None
        return self.steps[index - 1].observation, step.observation


def load_demo(store: Store, demo_id: str) -> Demo:
    """Read ``demo/<demo_id>`` from the store; TrajError when there is no such demo."""
    events = store.events(stream=f"demo/{demo_id}")
    if not events or events[0].type != "demo.started":
        raise TrajError(f"no demonstration {demo_id!r} in {store.home} (see 'traj demos')")
    return demo_from(demo_id, events)


def demo_from(demo_id: str, events: list[Event]) -> Demo:
    """The demo ``events`` (its stream, in order, starting with ``demo.started``) fold into."""
    observations: dict[str, Observation] = {}
    steps: list[DemoStep] = []
    final: Observation | None = None
    success: bool | None = None
    healed: dict[str, list[tuple[str, str]]] = {}
    variables: dict[str, list[str]] = {}
    defaults: dict[str, str] = {}
    template = ""
    options: dict[str, list[str]] = {}
    chosen: dict[str, tuple[Element, str]] = {}
    success_spec: SuccessSpec | None = None
    success_source = ""
    finished_id: str | None = None
    answer: str | None = None
    for event in events:
        data = event.data
        if event.type == "observation":
            observations[event.event_id] = data
            final = data
        elif event.type == "action":
            steps.append(DemoStep(observations[data.observation_id], data, event.event_id))
            final = None
        elif event.type == "demo.finished":
            success, answer, finished_id = data.success, data.answer, event.event_id
        elif event.type == "locators.healed":
            healed[data.action_id] = list(data.locators)
            if data.element is not None:
                chosen[data.action_id] = (data.element, data.context)
            else:
                chosen.pop(data.action_id, None)
        elif event.type == "demo.variables":  # the latest wins: traj demos vars edits by appending one
            variables, defaults = dict(data.variables), dict(data.defaults)
            template, options = data.template, dict(data.options)
        elif event.type == "demo.success":
            success_spec, success_source = data.spec, data.source
    started = events[0].data
    if variables and not template:  # recorded before templates were: cut the values out now
        values = {name: defaults[name] for name in variables if name in defaults}
        template = goal_template(started.goal, values, free=value_spans(started.goal))
    return Demo(
        demo_id,
        started,
        steps,
        final,
        success,
        healed,
        variables,
        success_spec,
        success_source=success_source,
        chosen=chosen,
        defaults=defaults,
        template=template,
        options=options,
        finished_id=finished_id,
        answer=answer,
    )
