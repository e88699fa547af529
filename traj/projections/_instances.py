"""A demonstration as it went on another instance of its task: an observed replay, folded.

A replay with ``observe`` records each step's page and the action as done there: the element's
id on that page, the value bound from that instance's goal; and the page it ended on. Folded like a demo's stream, a
replay that succeeded is a demonstration of that instance nobody had to give, so the training
feed puts its states beside the demo's own (a student that only ever saw one instance's values
learns those values, not where they come from).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from traj.projections._demo import Demo, DemoStep
from traj.projections._template import swap_values
from traj.prompt import TeacherStep

if TYPE_CHECKING:
    from traj.eventlog import Enrichment, Event, Observation, Store

__all__ = ["demo_enrichments", "instance_of", "teacher_step"]


def instance_of(demo: Demo, events: list[Event]) -> Demo | None:
    """``demo`` as the observed replay ``events`` (one ``replay/<id>`` stream, in order) did it on
    its instance: that instance's goal and start URL, its pages, its actions.

    None unless the replay succeeded and observed every step: a replay that failed, or one that
    recorded no pages, shows no instance worth learning from.
    """
    observations: dict[str, Observation] = {}
    steps: list[DemoStep] = []
    started = finished = final = None
    finished_id = ""
    for event in events:
        if event.type == "replay.started":
            started = event.data
        elif event.type == "observation":
            observations[event.event_id] = final = event.data
        elif event.type == "action":
            steps.append(DemoStep(observations[event.data.observation_id], event.data, event.event_id))
            final = None
        elif event.type == "replay.finished":
            finished, finished_id = event.data, event.event_id
    if started is None or finished is None or finished.success is not True or len(steps) != len(demo.steps):
        return None
    begun = msgspec.structs.replace(
        demo.started, goal=finished.goal or demo.started.goal, url=started.url, seed=started.seed
    )
    # It ends as the demo did, but the instance's answer to a question is not known: no FINISH then.
    concluded = demo.concluded and demo.answer is None
    return Demo(demo.demo_id, begun, steps, final=final, success=True, finished_id=finished_id if concluded else None)


def demo_enrichments(store: Store, demo_id: str) -> dict[str, Enrichment]:
    """The latest enrichment of each of the demo's steps (action id -> enrichment)."""
    return {
        event.data.action_id: event.data for event in store.events(stream=f"enrich/{demo_id}", types=["enrichment"])
    }


def teacher_step(action: str, enrichment: Enrichment | None, swaps: Mapping[str, str] | None = None) -> TeacherStep:
    """The step ``action`` as the teacher reads it, explained by ``enrichment`` when it has one.

    ``swaps`` (demonstrated value -> this instance's) rewrites the explanation for another
    instance, so it never names a value the instance does not have.
    """
    if enrichment is None:
        return TeacherStep(action=action)
    fields = msgspec.structs.asdict(enrichment)
    notes = {k: fields[k] for k in ("explanation", "element_rationale", "expected_outcome", "thinking_steps")}
    if swaps:
        notes = {k: _swapped(v, swaps) for k, v in notes.items()}
    return TeacherStep(action=action, **notes)


def _swapped(note: str | list[str] | None, swaps: Mapping[str, str]) -> str | list[str] | None:
    if isinstance(note, list):
        return [swap_values(line, swaps) for line in note]
    return swap_values(note, swaps) if note else note
