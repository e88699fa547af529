"""On-policy rollouts that keep the student's prompt computation for the loss.

SDFT's student scores its own sampled tokens, so the straightforward step runs the prompt
through the student twice: once to sample (prefill, no gradient) and once more in the
training forward over prompt + response. Here the prefill runs once, with the autograd graph
kept, and its key/value cache is what the training forward attends to: that forward covers
only the response tokens. The logits and the gradients are those of the full forward (the
same computation, split inside the prompt); the prompt is not computed a second time.

The split is before the prompt's last token, not after it: the training forward starts at
that token, whose logits predict the first response token. The prefill's own outputs then
feed nothing the loss uses but its keys and values, so the backward skips the last layer's
attention output and MLP over the whole prompt (zeros it would otherwise carry back).

Sampling is plain temperature sampling over the whole vocabulary (greedy at 0), stopping a row
at its first end-of-sequence token, as ``generate`` does with ``top_k``/``top_p`` off. A row
with a constraint (:class:`traj.policy.TokenConstraint`, the page's valid actions) samples only
the tokens it allows, as the agent's backends do; the rollout keeps each step's allowed tokens
for the divergence.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from traj.policy import TokenConstraint

__all__ = ["Rollout", "TokenBatch", "draw", "pack", "response_logits", "sample"]


@dataclass
class TokenBatch:
    """Prompts left-padded to one width (every response starts at the same column), then responses."""

    ids: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor
    prompt_width: int
    response_lengths: torch.Tensor
    response_width: int


def pack(prompts: list[list[int]], responses: list[list[int]], pad: int, *, device: Any = None) -> TokenBatch:
    """Left-pad ``prompts`` and right-pad ``responses`` (may be empty) into one batch on ``device``."""
    import torch

    prompt_width = max(len(p) for p in prompts)
    response_width = max(len(r) for r in responses)
    rows, masks = [], []
    for prompt, response in zip(prompts, responses, strict=True):
        left, right = prompt_width - len(prompt), response_width - len(response)
        rows.append([pad] * left + prompt + response + [pad] * right)
        masks.append([0] * left + [1] * (len(prompt) + len(response)) + [0] * right)
    ids, mask = torch.tensor(rows, device=device), torch.tensor(masks, device=device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    lengths = torch.tensor([len(r) for r in responses], device=device)
    return TokenBatch(ids, mask, positions, prompt_width, lengths, response_width)


@dataclass
class Rollout:
    """Sampled responses and the prefill they came from.

    ``cache`` holds the prompt but its last column, with the autograd graph when sampled with
    ``keep_graph``; :func:`response_logits` consumes it once.
    """

    responses: list[list[int]]
    prompt: TokenBatch
    cache: Any
    allowed: torch.Tensor | None = None
    """``(B, T, V)`` bool: the tokens each response position was drawn from (all for an
    unconstrained row or past a row's end); ``None`` when no row was constrained."""


def sample(
    model: Any,
    prompt: TokenBatch,
    *,
    max_new_tokens: int,
    temperature: float,
    eos: int,
    pad: int,
    keep_graph: bool,
    constraints: Sequence[TokenConstraint | None] = (),
) -> Rollout:
    """Sample one response per prompt row; with ``keep_graph`` the prefill keeps its graph.

    ``constraints`` (one per row, ``None`` for a free row; empty: none) restrict each row's
    tokens to those its constraint allows, ending with the end-of-sequence token ``eos``."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    head = slice(None, -1)  # the last column is the first decode step's input
    if prompt.prompt_width > 1:
        with torch.set_grad_enabled(keep_graph and torch.is_grad_enabled()):
            model(
                input_ids=prompt.ids[:, head],
                attention_mask=prompt.mask[:, head],
                position_ids=prompt.positions[:, head],
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            )
    decode_cache = _fork(cache, room=max_new_tokens)  # the decode steps grow their own; the prefill's stays
    rows = prompt.ids.shape[0]
    mask = prompt.mask[:, head]
    token, position = prompt.ids[:, -1], prompt.positions[:, -1:]
    finished = torch.zeros(rows, dtype=torch.bool, device=prompt.ids.device)
    sampled: list[torch.Tensor] = []
    masks: list[torch.Tensor] = []
    constrained = any(c is not None for c in constraints)
    with torch.inference_mode():
        for step in range(max_new_tokens):
            mask = torch.cat([mask, mask.new_ones(rows, 1)], 1)
            logits = model(
                input_ids=token.unsqueeze(1),
                attention_mask=mask,
                position_ids=position + step,
                past_key_values=decode_cache,
                use_cache=True,
            ).logits[:, -1]
            if constrained:
                allowed = _allowed(constraints, finished, logits.shape[-1]).to(logits.device)
                masks.append(allowed)
                logits = logits.masked_fill(~allowed, float("-inf"))
            token = draw(logits, temperature).masked_fill(finished, pad)
            sampled.append(token)
            if constrained:
                _accept(constraints, token, finished, eos)
            finished |= token == eos
            if bool(finished.all()):
                break
    rows_sampled = torch.stack(sampled, 1).tolist()
    responses = [row[: row.index(eos) + 1] if eos in row else row for row in rows_sampled]
    return Rollout(responses, prompt, cache, torch.stack(masks, 1) if constrained else None)


def _allowed(constraints: Sequence[TokenConstraint | None], finished: torch.Tensor, vocab: int) -> torch.Tensor:
    """``(B, V)`` bool: what each row may sample next (everything for a free or finished row)."""
    import numpy as np
    import torch

    rows = [
        np.ones(vocab, dtype=bool) if c is None or done else c.allowed()
        for c, done in zip(constraints, finished.tolist(), strict=True)
    ]
    return torch.from_numpy(np.stack(rows))


def _accept(
    constraints: Sequence[TokenConstraint | None], token: torch.Tensor, finished: torch.Tensor, eos: int
) -> None:
    """Hand each constrained row's matcher the token it just drew (an end of sequence ends the row)."""
    for constraint, picked, done in zip(constraints, token.tolist(), finished.tolist(), strict=True):
        if constraint is not None and not done and picked != eos:
            constraint.accept(picked)


def draw(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """One token per row of ``(B, V)`` logits: sampled at ``temperature``, the argmax at 0.

    The Gumbel-max draw: ``logits / T + G`` with ``G = -log(-log U)`` per entry is largest at
    index ``i`` with probability ``softmax(logits / T)_i``. One pass over the row, no
    normalisation or cumulative sum; uniform draws are ~6x cheaper than exponential ones here.
    """
    import torch

    if temperature <= 0:
        return logits.argmax(-1)
    gumbel = torch.rand_like(logits, dtype=torch.float32).log_().neg_().log_()  # -G; U = 0: +inf, never wins
    return (logits.float() / temperature).sub_(gumbel).argmax(-1)


def response_logits(model: Any, rollout: Rollout, pad: int) -> torch.Tensor:
    """``(B, T, V)`` logits predicting each response token, from the rollout's own prefill.

    Equal to the logits of one forward over prompt + response at the response's positions;
    gradients flow through the prefill's cache into the prompt's computation.
    """
    import torch

    prompt = rollout.prompt
    responses = pack([[] for _ in rollout.responses], rollout.responses, pad, device=prompt.ids.device)
    # the prompt's last token, then every response token but the last (which predicts nothing scored)
    tokens = torch.cat([prompt.ids[:, -1:], responses.ids[:, :-1]], 1)
    mask = torch.cat([prompt.mask, responses.mask[:, :-1]], 1)
    positions = prompt.positions[:, -1:] + torch.arange(tokens.shape[1], device=tokens.device)
    return model(
        input_ids=tokens,
        attention_mask=mask,
        position_ids=positions,
        past_key_values=rollout.cache,
        use_cache=True,
    ).logits.float()


def _fork(cache: Any, *, room: int) -> Any:
    """A cache that can grow by ``room`` tokens without touching ``cache``.

    Its layers are new objects over the same prefill tensors: every cache layer grows by
    rebinding its tensors, never writing into them, so the copy's growth leaves the original's
    tensors, and the graph they carry, intact. Plain (non-sliding) layers are copied once into
    buffers with room for the decode steps, which then write one token in place instead of
    copying the whole cache every step.
    """
    from transformers.cache_utils import DynamicLayer

    forked = copy.copy(cache)
    forked.layers = [
        _roomy_layer()(layer.keys, layer.values, room)
        if type(layer) is DynamicLayer and layer.is_initialized
        else copy.copy(layer)
        for layer in cache.layers
    ]
    return forked


@functools.cache
def _roomy_layer() -> type:
    """transformers' DynamicLayer over a preallocated buffer (made on first use: imports transformers)."""
    from transformers.cache_utils import DynamicLayer

    class RoomyLayer(DynamicLayer):
        def __init__(self, keys: torch.Tensor, values: torch.Tensor, room: int) -> None:
            super().__init__()
            self.lazy_initialization(keys, values)
            batch, heads, length, width = keys.shape
            self._key_buffer = keys.new_empty(batch, heads, length + room, width)
            self._value_buffer = values.new_empty(batch, values.shape[1], length + room, values.shape[-1])
            self._key_buffer[:, :, :length] = keys
            self._value_buffer[:, :, :length] = values
            self.keys, self.values = self._key_buffer[:, :, :length], self._value_buffer[:, :, :length]

        def update(
            self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
        ) -> tuple[torch.Tensor, torch.Tensor]:
            start = self.keys.shape[-2]
            end = start + key_states.shape[-2]
            if end > self._key_buffer.shape[-2]:  # out of room: grow by copying, as DynamicLayer does
                return super().update(key_states, value_states, *args, **kwargs)
            self._key_buffer[:, :, start:end] = key_states
            self._value_buffer[:, :, start:end] = value_states
            self.keys, self.values = self._key_buffer[:, :, :end], self._value_buffer[:, :, :end]
            return self.keys, self.values

    return RoomyLayer
