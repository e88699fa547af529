"""The structured answer a vision model gives about one step, validated with msgspec.

Models wrap JSON in code fences or chatter, and sometimes give the thinking steps as one
string; those are repaired here. Anything else that does not validate is malformed, and the
caller asks the model once more with the problem named.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

__all__ = ["MalformedAnswerError", "StepExplanation", "parse_answer"]

_Text = Annotated[str, msgspec.Meta(pattern=r"\S")]
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


class StepExplanation(msgspec.Struct, frozen=True, kw_only=True):
    """Why a demonstrated step is right: what the teacher's context is made of."""

    explanation: _Text
    """Why this action is the right next step toward the goal."""
    element_rationale: _Text
    """Why this element and not its look-alikes."""
    expected_outcome: _Text
    """What the page should show after the action."""
    thinking_steps: Annotated[list[_Text], msgspec.Meta(min_length=1, max_length=12)]
    """The steps a model should think through to choose this action."""


class MalformedAnswerError(ValueError):
    """The model's answer is not the JSON object asked for; the message says what is wrong."""


def parse_answer(text: str) -> StepExplanation:
    """Read the model's answer as a :class:`StepExplanation`, repairing what can be repaired.

    Repairs: text around the outermost ``{...}`` (code fences, a preamble) is dropped, and
    thinking steps given as one string are split into its lines. Strings are stripped.
    """
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        shown = " ".join(text.split())[:120]
        raise MalformedAnswerError(f"no JSON object in the answer: {shown!r}" if shown else "the answer was empty")
    try:
        raw = msgspec.json.decode(text[start : end + 1])
    except msgspec.DecodeError as exc:
        raise MalformedAnswerError(f"the JSON object does not parse ({exc})") from None
    if not isinstance(raw, dict):
        raise MalformedAnswerError("the answer is not a JSON object")
    steps = raw.get("thinking_steps")
    if isinstance(steps, str):
        raw["thinking_steps"] = [_LIST_MARK.sub("", line) for line in steps.splitlines() if line.strip()]
    try:
        answer = msgspec.convert(raw, StepExplanation)
    except msgspec.ValidationError as exc:
        raise MalformedAnswerError(f"the JSON object is not of the asked shape: {exc}") from None
    return msgspec.structs.replace(
        answer,
        explanation=answer.explanation.strip(),
        element_rationale=answer.element_rationale.strip(),
        expected_outcome=answer.expected_outcome.strip(),
        thinking_steps=[step.strip() for step in answer.thinking_steps],
    )
