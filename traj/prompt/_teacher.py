"""The teacher's privileged context: a demonstration, each step explained by its enrichment.

SDFT's teacher only beats the student when its context says *why* each step was taken, so
this text is the product of enrichment. A step without a valid enrichment (none yet, or its
enrichment failed) shows the raw action JSON alone: training never waits for enrichment.

The text is versioned (:data:`TEACHER_CONTEXT_VERSION`) because a trained adapter is only
reproducible with the context it was trained on. The ``sdft_examples`` projection renders
it through a DuckDB function that calls :func:`render_teacher_context`
(:mod:`traj.projections`), so SQL and Python give the same text; the SDFT feed reads it
from there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from traj.prompt._action import AgentAction
from traj.prompt._prompt import render_demonstration

__all__ = [
    "TEACHER_CONTEXT_VERSION",
    "TeacherStep",
    "finish_step",
    "render_teacher_context",
    "render_workflow_context",
]

TEACHER_CONTEXT_VERSION = "4"
"""Bumped whenever :func:`render_teacher_context` renders differently (4: a demonstration the
person ended with the task done ends with its FINISH step)."""


class TeacherStep(msgspec.Struct, frozen=True, kw_only=True):
    """One demonstrated step as the teacher sees it; the enrichment fields are None when it has none."""

    action: str
    """The action as the policy emits it (``{"kind":...,"target":...,"value":...}``)."""
    explanation: str | None = None
    element_rationale: str | None = None
    expected_outcome: str | None = None
    thinking_steps: list[str] | None = None


def finish_step(answer: str | None = None) -> TeacherStep:
    """The last step of a demonstration the person ended with the task done: FINISH, with the
    answer when the task asked a question.

    A recording ends when the person stops it, not with an action, yet what the agent must do
    there is stop: without this step the teacher sees no end, and an agent taught by it keeps
    acting once the task is done (submitting a form again and again).
    """
    return TeacherStep(action=AgentAction("FINISH", None, answer).to_json())


def render_teacher_context(goal: str, steps: Sequence[TeacherStep], *, values_of: str | None = None) -> str:
    """The whole demonstration of ``goal`` as the SDFT teacher sees it, enriched where available.

    Enriched steps carry their explanation, element rationale, expected outcome and thinking
    steps as notes under the action; the others show the action alone. The layout is the
    agent's :func:`render_demonstration`, which the tiny model is pretrained on; the actions refer
    to the values of ``values_of`` (by default the demonstrated ``goal``).
    """
    notes = [_notes(step) for step in steps]
    return render_demonstration(goal, [step.action for step in steps], notes, values_of=values_of)


def render_workflow_context(
    goal: str, steps: Sequence[TeacherStep], variables: Mapping[str, str], *, run_goal: str | None = None
) -> str:
    """The demonstration a workflow's model fallback reads: the teacher's context (the demonstrated
    goal, every action with its enrichment) and the values bound to the demo's variables for this run.

    ``steps`` already carry the bound values; the line after them says which values are the run's
    own, so a model can tell them from the demonstration's constants. A value of ``run_goal`` (the
    goal the run's prompt states) is written as its ``$N`` there.
    """
    context = render_teacher_context(goal, steps, values_of=run_goal)
    if not variables:
        return context
    bound = ", ".join(f"{name} = {value!r}" for name, value in sorted(variables.items()))
    return f"{context}\nValues for this run: {bound}"


def _notes(step: TeacherStep) -> list[str]:
    if step.explanation is None:
        return []
    notes = [
        f"Why: {step.explanation}",
        f"Element: {step.element_rationale or ''}",
        f"Expected outcome: {step.expected_outcome or ''}",
    ]
    if step.thinking_steps:
        notes.append(f"Thinking: {' / '.join(step.thinking_steps)}")
    return notes
