"""How sure the policy was of a step: the probability of the tokens that name its choice.

The choice is the element: for ``CLICK``/``TYPE``/``SELECT`` the probability that the model
wrote that element's id where it did (the product over the id's tokens, given everything
before them); for an action without an element (``PRESS_ENTER``, ``FINISH``, ...) the
probability of the tokens naming its kind. A mean over the whole output would mostly measure
the JSON punctuation, which a trained model writes with certainty whatever it chooses.

Every backend reports each generated token's log probability and its piece of text
(:class:`~traj.policy.Generation`); one that does not (an OpenAI-compatible server without
``logprobs``) leaves the confidence unknown, ``None``, never a guess.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from traj.policy import Generation
    from traj.prompt import AgentAction

__all__ = ["choice_confidence", "choice_span"]

_TARGET_KEYS = r'"(?:target|element|element_id|id)"\s*:\s*"?\s*[\[#]?\s*'
_KIND_KEYS = r'"(?:kind|action|type)"\s*:\s*"'


def choice_confidence(generation: Generation, action: AgentAction | None) -> float | None:
    """The probability of the tokens that spell ``action``'s element id (or its kind) in ``generation``.

    ``None`` when the backend gave no per-token probabilities and texts, or the choice cannot
    be found in the text (an action read out of prose).
    """
    if action is None or not generation.token_logprobs:
        return None
    if len(generation.token_texts) != len(generation.token_logprobs):
        return None
    text = "".join(generation.token_texts)
    span = choice_span(text, action)
    if span is None:
        return None
    start, end = span
    total, offset, covered = 0.0, 0, False
    for piece, logprob in zip(generation.token_texts, generation.token_logprobs, strict=True):
        piece_end = offset + len(piece)
        if piece and offset < end and piece_end > start:
            total += logprob
            covered = True
        offset = piece_end
    return math.exp(total) if covered else None


def choice_span(text: str, action: AgentAction) -> tuple[int, int] | None:
    """Where in ``text`` the model named ``action``'s element (or, without one, its kind): [start, end)."""
    if action.target is not None:
        target = re.escape(action.target)
        for pattern in (
            _TARGET_KEYS + f"({target})(?![\\w-])",  # JSON: "target": "12"
            rf"\[\s*({target})\s*\]",  # command: CLICK [12]
            rf"(?<![\w-])({target})(?![\w-])",  # anything else: the first bare mention
        ):
            match = re.search(pattern, text)
            if match:
                return match.span(1)
        return None
    match = re.search(_KIND_KEYS + r"([^\"]+)\"", text)
    if match:
        return match.span(1)
    words = action.kind.replace("_", "[ _]?")
    match = re.search(rf"(?im)^\W*({words})\b", text)
    return match.span(1) if match else None
