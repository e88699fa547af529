"""The page's action constraint for training rollouts: what the agent's backends decode under.

SDFT learns from the student's own samples; the agent samples under the page's constraint
(:func:`traj.prompt.action_schema`), so the rollouts are drawn under the same one, compiled by
the same llguidance matcher (:class:`traj.policy.Grammars`) from the schema each example carries.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traj.policy import Grammars, TokenConstraint

__all__ = ["RolloutConstraints"]


class RolloutConstraints:
    """Fresh matchers for a batch of rollouts, one per example schema (compiled for one tokenizer)."""

    def __init__(self, tokenizer: Any, vocab_size: int, eos: int) -> None:
        """``tokenizer``: the Hugging Face (fast) tokenizer; ``vocab_size``: the logits' width."""
        self._tokenizer, self._vocab_size, self._eos = tokenizer, vocab_size, eos
        self._grammars: Grammars | None = None  # wrapping the tokenizer takes a while: on first use

    def of(self, schemas: Sequence[str]) -> list[TokenConstraint | None]:
        """A new matcher per schema (``None`` where a schema is empty: that row samples freely)."""
        from traj.policy import Grammars
        from traj.prompt import action_response_format

        if self._grammars is None and any(schemas):
            self._grammars = Grammars(self._tokenizer, self._vocab_size, [self._eos])
        return [
            self._grammars.constraint(action_response_format(json.loads(schema)))
            if schema and self._grammars is not None
            else None
            for schema in schemas
        ]
