"""Constrained decoding for the local backends: only tokens that keep the answer valid may come next.

A ``response_format`` (OpenAI's ``json_schema`` or ``json_object``) is compiled by llguidance, a
structured-generation engine vLLM also ships, against the model's tokenizer; each generation
gets a matcher that says, before every token, which tokens may follow the text so far. The
``transformers`` and ``mlx`` backends set the others' logits to ``-inf`` and hand each picked
token back; everything else about sampling stays theirs.

Why llguidance rather than xgrammar (both maintained, both in vLLM): the agent's schema is new
at every step (the page changed), so what counts is compiling plus masking one short answer.
Measured on the tiny model's tokenizer with a calendar page's schema (123 elements), median of
5: llguidance compiles in 10 ms and masks in 16 us a token, xgrammar compiles in 82 ms and
masks in 2 us a token; for a 21-token action llguidance costs 11 ms, xgrammar 82 ms. xgrammar
precomputes masks per grammar state over the whole vocabulary, which grows with it; llguidance
computes them lazily.

JSON is written compact (``{"kind":"CLICK","target":"4","value":null}``, no whitespace), exactly
as :meth:`~traj.prompt.AgentAction.to_json` writes it and the training feed teaches it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from traj.errors import PolicyError, one_line

__all__ = ["Grammars", "MlxMasking", "TokenConstraint"]

_COMPACT = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}


class Grammars:
    """Makes matchers for one tokenizer (wrapping a tokenizer for llguidance takes a while: once)."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: Iterable[int]) -> None:
        """``tokenizer``: the Hugging Face (fast) tokenizer; ``vocab_size``: the model's logits width."""
        import llguidance.hf

        self.vocab_size = vocab_size
        self._tokenizer = llguidance.hf.from_tokenizer(tokenizer, n_vocab=vocab_size, eos_token=sorted(stop_ids))

    def constraint(self, response_format: Mapping[str, Any] | None) -> TokenConstraint | None:
        """A fresh matcher for one generation under ``response_format``; ``None`` for plain text."""
        import llguidance

        kind = (response_format or {}).get("type", "text")
        if kind == "text":
            return None
        if kind == "json_object":
            schema: Any = {"type": "object"}
        elif kind == "json_schema":
            schema = (response_format or {}).get("json_schema", {}).get("schema")
            if not isinstance(schema, Mapping):
                raise PolicyError("response_format json_schema needs json_schema.schema, a JSON schema object")
        else:
            raise PolicyError(f"response_format type {kind!r} is not text, json_object or json_schema")
        try:
            grammar = llguidance.LLMatcher.grammar_from_json_schema(dict(schema), defaults=_COMPACT)
            matcher = llguidance.LLMatcher(self._tokenizer, grammar)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise PolicyError(f"cannot compile the response_format: {one_line(exc)}") from None
        if matcher.is_error():
            raise PolicyError(f"cannot compile the response_format: {one_line(matcher.get_error())}")
        return TokenConstraint(matcher, self.vocab_size)


class TokenConstraint:
    """One generation's matcher: which tokens may come next, and the tokens taken so far."""

    def __init__(self, matcher: Any, vocab_size: int) -> None:
        import llguidance.numpy

        self._matcher = matcher
        self.vocab_size = vocab_size
        self._bitmask = llguidance.numpy.allocate_token_bitmask(1, vocab_size)

    def allowed(self) -> Any:
        """A numpy bool array over the vocabulary: True for the tokens that may come next."""
        import llguidance.numpy
        import numpy as np

        llguidance.numpy.fill_next_token_bitmask(self._matcher, self._bitmask)
        bits = np.unpackbits(self._bitmask.view(np.uint8), bitorder="little")
        return bits[: self.vocab_size].astype(bool)

    def mask_torch(self, scores: Any) -> Any:
        """``scores`` (one row of logits, a torch tensor) with every token not allowed next at ``-inf``, in place."""
        import torch

        allowed = torch.from_numpy(self.allowed()).to(scores.device)
        return scores.masked_fill_(~allowed, float("-inf"))

    def accept(self, token: int) -> None:
        """Advance past ``token``, the one picked under the mask."""
        if not self._matcher.consume_token(int(token)):
            raise PolicyError(f"token {token} broke the output constraint: {one_line(self._matcher.get_error())}")

    @property
    def finished(self) -> bool:
        """The answer and its end are written: nothing more may follow."""
        return bool(self._matcher.is_stopped())


class MlxMasking:
    """mlx-lm's logits processor for a :class:`TokenConstraint`: it sees the tokens so far before each
    step, hands the constraint the one picked last, and masks what may not follow it.

    It keeps every mask it applied (``masks``, one numpy bool array per generated token, in order):
    the MLX trainer's divergence is taken over the same allowed tokens the rollout was drawn from.
    """

    def __init__(self, constraint: TokenConstraint, prompt_tokens: int) -> None:
        self.constraint, self.seen = constraint, prompt_tokens
        self.masks: list[Any] = []

    def __call__(self, tokens: Any, logits: Any) -> Any:
        import mlx.core as mx

        if len(tokens) > self.seen:  # mlx-lm computes one step ahead: the token it just sampled
            self.seen = len(tokens)
            if not self.constraint.finished:  # past the answer's end only the end of sequence comes
                self.constraint.accept(int(tokens[-1].item()))
        allowed = self.constraint.allowed()
        self.masks.append(allowed)
        return mx.where(mx.array(allowed), logits, mx.array(float("-inf"), dtype=logits.dtype))
