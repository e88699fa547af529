"""The prompt as a model reads it: its chat template, its context window, its tokens as text.

Every torch and MLX path (the policies, the trainers, the tiny model's pretraining) wraps a
prompt with :func:`chat_text`, so training and serving see the same token sequence. The
functions take a tokenizer or config object; nothing here imports a model library.
"""

from __future__ import annotations

from typing import Any

__all__ = ["chat_text", "context_window_of", "token_pieces"]


def chat_text(tokenizer: Any, prompt_text: str) -> str:
    """The prompt as one user turn in the model's chat template (plain text without a template)."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt_text}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return prompt_text


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
