"""Constrained decoding for the local backends: only tokens that keep the answer valid may come next.

A ``response_format`` (OpenAI's ``json_schema`` or ``json_object``) is compiled by xgrammar, the
structured-generation engine vLLM uses too, against the model's tokenizer; each generation gets
a matcher that says, before every token, which tokens may follow the text so far. The
``transformers`` and ``mlx`` backends apply that mask to their logits (``-inf`` elsewhere) and
hand each picked token back; everything else about sampling stays theirs.

JSON is written compact (``{"kind":"CLICK","target":"4","value":null}``, no whitespace), exactly
as :meth:`~traj.prompt.AgentAction.to_json` writes it and the training feed teaches it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from traj.errors import PolicyError, one_line

__all__ = ["Grammars", "TokenConstraint"]

_CACHE_BYTES = 64 << 20


class Grammars:
    """Compiles response formats for one tokenizer (compiled grammars are cached by xgrammar)."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: Iterable[int]) -> None:
        """``tokenizer``: the Hugging Face tokenizer; ``vocab_size``: the model's logits width."""
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=sorted(stop_ids))
        self.vocab_size = vocab_size
        self._compiler = xgr.GrammarCompiler(info, cache_limit_bytes=_CACHE_BYTES)

    def constraint(self, response_format: Mapping[str, Any] | None) -> TokenConstraint | None:
        """A fresh matcher for one generation under ``response_format``; ``None`` for plain text."""
        import xgrammar as xgr

        kind = (response_format or {}).get("type", "text")
        if kind == "text":
            return None
        try:
            if kind == "json_object":
                compiled = self._compiler.compile_builtin_json_grammar()
            elif kind == "json_schema":
                schema = (response_format or {}).get("json_schema", {}).get("schema")
                if not isinstance(schema, Mapping):
                    raise PolicyError("response_format json_schema needs json_schema.schema, a JSON schema object")
                compiled = self._compiler.compile_json_schema(
                    json.dumps(schema), any_whitespace=False, separators=(",", ":")
                )
            else:
                raise PolicyError(f"response_format type {kind!r} is not text, json_object or json_schema")
        except (RuntimeError, ValueError) as exc:
            raise PolicyError(f"cannot compile the response_format: {one_line(exc)}") from None
        return TokenConstraint(xgr.GrammarMatcher(compiled), self.vocab_size)


class TokenConstraint:
    """One generation's matcher: the allowed next tokens as a bitmask, and the tokens taken so far."""

    def __init__(self, matcher: Any, vocab_size: int) -> None:
        import xgrammar as xgr

        self._matcher = matcher
        self.vocab_size = vocab_size
        self.bitmask = xgr.allocate_token_bitmask(1, vocab_size)
        """A ``(1, ceil(vocab / 32))`` int32 torch tensor, one bit per token, refilled by :meth:`fill`."""

    def fill(self) -> Any:
        """The bitmask of the tokens that may come next."""
        self._matcher.fill_next_token_bitmask(self.bitmask)
        return self.bitmask

    def mask_torch(self, scores: Any) -> Any:
        """``scores`` (one row of logits, a torch tensor) with every token not allowed next at ``-inf``, in place."""
        import xgrammar as xgr

        xgr.apply_token_bitmask_inplace(scores, self.fill().to(scores.device), vocab_size=self.vocab_size)
        return scores

    def mask_mlx(self, logits: Any) -> Any:
        """``logits`` (an MLX array, ``(1, vocab)``) with every token not allowed next at ``-inf``."""
        import mlx.core as mx
        from xgrammar.kernels.apply_token_bitmask_mlx import apply_token_bitmask_mlx

        return apply_token_bitmask_mlx(mx.array(self.fill().numpy()), logits, self.vocab_size)

    def accept(self, token: int) -> None:
        """Advance past ``token``, the one picked under the mask."""
        if not self._matcher.accept_token(int(token)):
            raise PolicyError(f"token {token} broke the output constraint (a bug in the masking)")

    @property
    def finished(self) -> bool:
        """The answer is complete: only the end of the sequence may follow."""
        return bool(self._matcher.is_terminated())
