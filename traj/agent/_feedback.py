"""A person's judgement of a run (or a demonstration), recorded as a ``feedback`` event.

Feedback goes to its own stream, ``feedback/<target>`` (``feedback/run/<id>``), never into the
judged stream: a run may still be appending, and a judgement made later is a new fact, not an
edit. Everything is checked before anything is appended, so a typo leaves the log as it was:
the target must exist, the step must be one the run took, and a correction must be an action
the agent could have taken on that step's page (a known kind, a target that was on the page).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from traj.errors import FeedbackError, ParseError, UnknownTargetError
from traj.eventlog import Feedback, NewEvent
from traj.prompt import AgentAction, action_from_mapping

if TYPE_CHECKING:
    from traj.eventlog import Event, Store

__all__ = ["FeedbackRecord", "record_feedback"]


@dataclass(frozen=True)
class FeedbackRecord:
    """What was appended: the feedback's stream and event, and the log position it got."""

    stream: str
    event_id: str
    position: int
    feedback: Feedback


def record_feedback(
    store: Store,
    target: str,
    label: Literal["good", "bad"],
    *,
    step: int | None = None,
    correction: dict[str, Any] | str | None = None,
    note: str = "",
) -> FeedbackRecord:
    """Judge ``target`` (a run id, ``run/<id>`` or ``demo/<id>``) ``good`` or ``bad``, or only its ``step``.

    ``correction`` (a mapping or its JSON text, e.g. ``{"kind": "CLICK", "target": "12"}``) is
    the action that should have been taken at ``step``; it needs ``step`` and ``label="bad"``
    and is stored in the agent's canonical action shape. Raises :class:`FeedbackError`, having
    appended nothing, when any of it does not fit the log.
    """
    if label not in ("good", "bad"):
        raise FeedbackError(f"label must be 'good' or 'bad', got {label!r}")
    stream = _stream_of(target)
    events = store.events(stream=stream)
    if not events or events[0].type not in ("run.started", "demo.started"):
        kind = stream.split("/", 1)[0]
        raise UnknownTargetError(
            f"no {kind} {stream.split('/', 1)[1]!r} in {store.home} (see 'traj query \"SELECT * FROM {kind}s\"')"
        )
    action = None
    if correction is not None:
        if step is None or label != "bad":
            raise FeedbackError("a correction needs --step and the label 'bad': it replaces what was done at that step")
        action = _correction(correction)
    if step is not None:
        _check_step(stream, events, step, action)
    feedback = Feedback(
        target=stream,
        label=label,
        step=step,
        correction=None if action is None else msgspec.to_builtins(action),
        note=note,
    )
    feedback_stream = f"feedback/{stream}"
    event = NewEvent(data=feedback)
    # A judgement does not depend on earlier ones (a later one supersedes in the projections):
    # append at the end, so two judges at once both land instead of one getting a conflict.
    appended = store.append(feedback_stream, [event], expected_seq=None)
    return FeedbackRecord(feedback_stream, event.event_id, appended.first_position, feedback)


def _stream_of(target: str) -> str:
    target = target.strip()
    if target.startswith(("run/", "demo/")):
        return target
    if "/" in target or not target:
        raise FeedbackError(f"judge a run id, run/<id> or demo/<id>, not {target!r}")
    return f"run/{target}"


def _correction(correction: dict[str, Any] | str) -> AgentAction:
    if isinstance(correction, str):
        try:
            correction = msgspec.json.decode(correction)
        except msgspec.DecodeError as exc:
            raise FeedbackError(f"the correction is not valid JSON: {exc}") from None
    if not isinstance(correction, dict):
        raise FeedbackError(
            f'the correction must be a JSON object like {{"kind": "CLICK", "target": "12"}}, got {correction!r}'
        )
    try:
        return action_from_mapping(correction)
    except ParseError as exc:
        raise FeedbackError(f"malformed correction: {exc}") from None


def _check_step(stream: str, events: list[Event], step: int, correction: AgentAction | None) -> None:
    """``step`` must be a decision the stream holds; a corrected target must be on that step's page."""
    if stream.startswith("run/"):
        taken = sorted({e.data.step for e in events if e.type == "run.step"})
    else:
        taken = sorted({e.data.step for e in events if e.type == "action"})
    if step not in taken:
        have = f"steps {taken[0]}..{taken[-1]}" if taken else "no steps"
        raise FeedbackError(f"step {step} is out of range: {stream} has {have}")
    if correction is None:
        return
    source = next((e.data.source for e in events if e.type == "run.step" and e.data.step == step), "agent")
    if source in ("workflow", "healed"):  # no page was recorded for it: a correction would teach on nothing
        raise FeedbackError(
            f"step {step} of {stream} repeated the demonstration (source {source}): correct the demonstration, "
            "or re-record it, instead"
        )
    if correction.target is None:
        return
    pages = [e.data for e in events if e.type == "observation" and e.data.step == step]
    ids = {element.agent_id for element in pages[-1].elements} if pages else set()
    if pages and correction.target not in ids:
        raise FeedbackError(
            f"malformed correction: element {correction.target!r} was not on the page at step {step} of {stream}"
        )
