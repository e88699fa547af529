"""The prompt as a model reads it: its chat template, its context window, its tokens as text.

Every torch and MLX path (the policies, the trainers, the tiny model's pretraining) wraps a
prompt with :func:`chat_text`, so training and serving see the same token sequence. The
functions take a tokenizer or config object; nothing here imports a model library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from traj.errors import PolicyError

__all__ = ["chat_text", "context_window_of", "conversation_text", "token_pieces"]


def chat_text(tokenizer: Any, prompt_text: str) -> str:
    """The prompt as one user turn in the model's chat template (plain text without a template)."""
    return conversation_text(tokenizer, [{"role": "user", "content": prompt_text}])


def conversation_text(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> str:
    """A conversation in the model's chat template, ready for the assistant's next turn.

    Without a template only a lone user turn has a faithful rendering (its text, as
    :func:`chat_text` gives the agent's prompt); any other conversation is refused
    rather than roles silently lost (a ``PolicyError``).
    """
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    if len(messages) == 1 and messages[0].get("role") == "user":
        return messages[0]["content"]
    raise PolicyError("this model has no chat template: send one user message, or raw text to /v1/completions")


def context_window_of(config: Any, tokenizer: Any) -> int:
    """The tokens a model takes at once: its position limit, else its tokenizer's, else 2048."""
    return int(getattr(config, "max_position_embeddings", 0) or tokenizer.model_max_length or 2048)


def token_pieces(tokenizer: Any, tokens: list[int]) -> list[str]:
    """The text each of ``tokens`` adds to their decoded whole, in order.

    Decoded as growing prefixes, not one token at a time: a token may be half of a character or
    carry a leading space that decoding alone drops, and the pieces must add up to the text.
    """
    pieces, before = [], ""
    for end in range(1, len(tokens) + 1):
        text = tokenizer.decode(tokens[:end], skip_special_tokens=True)
        pieces.append(text[len(before) :] if text.startswith(before) else "")
        before = text if text.startswith(before) else before
    return pieces
