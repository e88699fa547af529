"""The protocol every policy backend implements, and what a generation returns.

A policy turns a :class:`~traj.prompt.Prompt` into text. Backends that hold a model in process
(``transformers``, ``mlx``) also hold several LoRA adapters over one base model and switch the
active one without reloading the base; remote backends name the adapter per request.

A backend that reads the prompt's screenshot sets ``vision = True``; the agent then takes the
screenshot before prompting. For the others it is taken while the model generates, so
``generate`` must be callable from a worker thread (one thread per run, always the same).

A backend that also takes what OpenAI's API asks of a model (a conversation through the chat
template, raw text, ``top_p``, a seed, the top alternatives of each token) is a
:class:`ChatPolicy`: the server hands it a :class:`Completion` and refuses those parameters for
the others rather than ignoring them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from traj.prompt import conversation_text

if TYPE_CHECKING:
    from traj.prompt import Prompt

__all__ = [
    "ChatPolicy",
    "Completion",
    "Generation",
    "Policy",
    "TokenText",
    "emit_token",
    "model_text",
    "should_stop",
    "stopping_when",
    "streaming_to",
]

_stop_events: ContextVar[tuple[threading.Event, ...]] = ContextVar("traj_stop_events", default=())
_token_sink: ContextVar[Callable[[str], None] | None] = ContextVar("traj_token_sink", default=None)


@dataclass(frozen=True)
class Generation:
    """A policy's raw answer to one prompt."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    token_logprobs: list[float] = field(default_factory=list)
    """Log probability of each generated token, where the backend knows it (confidence checks)."""
    token_texts: list[str] = field(default_factory=list)
    """The text each token of ``token_logprobs`` adds to ``text`` ("" for an end-of-sequence token), so a
    span of the text (the chosen element's id) can be traced to the probabilities of its tokens."""
    top_logprobs: list[list[tuple[str, float]]] = field(default_factory=list)
    """Per token of ``token_logprobs``, the most likely tokens there (text, log probability), best first,
    when a :class:`Completion` asked for them."""

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


@runtime_checkable
class Policy(Protocol):
    """A backend that completes prompts, optionally through one of its LoRA adapters."""

    backend: str
    """``transformers``, ``mlx``, ``openai``, ``remote``, ..."""
    model_id: str
    """The base model: a local directory or a served model name."""
    context_window: int
    """Tokens the model attends over; prompts are budgeted to fit with the answer."""

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's prompt (an estimate where no tokenizer is local)."""
        ...

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        """Complete ``prompt`` through the active adapter; greedy when ``temperature`` is 0."""
        ...

    @property
    def adapters(self) -> list[str]:
        """Names of the adapters loaded over the base model."""
        ...

    @property
    def active_adapter(self) -> str | None:
        """The adapter ``generate`` uses; ``None`` for the bare base model."""
        ...

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Load the adapter at ``path`` under ``name`` (the base model stays loaded)."""
        ...

    def set_adapter(self, name: str | None) -> None:
        """Make ``name`` the active adapter, or the bare base model when ``None``."""
        ...

    def unload_adapter(self, name: str) -> None:
        """Drop adapter ``name``; the base model becomes active if it was."""
        ...

    def close(self) -> None:
        """Release the model or connection."""
        ...


@dataclass(frozen=True)
class Completion:
    """One request in the terms of OpenAI's API: what to complete and how to pick the tokens."""

    messages: tuple[Mapping[str, str], ...] = ()
    """The conversation (``role``: system, user or assistant; ``content``: text), read through the
    model's chat template, which adds the assistant's turn to complete."""
    text: str | None = None
    """Raw text completed as it is, without the chat template (``/v1/completions``); then ``messages`` is empty."""
    max_new_tokens: int = 64
    temperature: float = 0.0
    """0: greedy, whatever ``top_p`` and ``seed`` say."""
    top_p: float = 1.0
    """Sample only from the most likely tokens whose probabilities add up to ``top_p`` (nucleus sampling)."""
    seed: int | None = None
    """The same seed, request and model give the same tokens; ``None``: fresh randomness each time."""
    top_logprobs: int = 0
    """How many of the most likely tokens to report at each position (:attr:`Generation.top_logprobs`)."""
    image: bytes | None = field(default=None, repr=False)
    """The conversation's image (a PNG screenshot), for a backend with ``vision``; others are never sent one."""
    response_format: Mapping[str, Any] | None = None
    """OpenAI's ``response_format`` (``json_object``, ``json_schema``), for a backend whose ``constrains_output``
    is true: the local ones enforce it token by token (llguidance), the OpenAI-compatible ones hand it to a
    server that constrains its decoding; the others refuse it."""

    @classmethod
    def of_prompt(
        cls, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0, image: bytes | None = None
    ) -> Completion:
        """The agent's prompt as one user turn, under the page's constraint (its ``response_format``)."""
        return cls(
            ({"role": "user", "content": prompt.text},),
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            image=image,
            response_format=prompt.response_format,
        )


@runtime_checkable
class ChatPolicy(Policy, Protocol):
    """A policy that completes a :class:`Completion`: conversations, raw text and every sampling option in it."""

    def prompt_tokens(self, completion: Completion) -> int:
        """Tokens the completion's prompt takes as the model reads it (chat template included)."""
        ...

    def complete(self, completion: Completion) -> Generation:
        """Generate through the active adapter; each token's text also goes to :func:`streaming_to`'s sink."""
        ...


class TokenText:
    """A generation's text as its tokens come: what each new token adds to the decoded whole.

    Each step decodes only the tokens not shown yet behind a few tokens of context, and takes the
    difference: the context keeps a leading space that decoding a token alone drops, and a token
    that is half a character shows nothing until the character is whole. Decoding the whole
    text at every token instead costs quadratic time (2x slower at 256 tokens).
    """

    CONTEXT = 8

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.tokens: list[int] = []
        self._shown = 0
        """Tokens whose text :meth:`add` has returned."""

    def add(self, token: int) -> str:
        """Append ``token``; returns the text it adds ("" while it is part of an unfinished character)."""
        self.tokens.append(token)
        before, after = self._unshown()
        if after.endswith("\ufffd") or not after.startswith(before):
            return ""
        self._shown = len(self.tokens)
        return after[len(before) :]

    def rest(self) -> str:
        """The text of the tokens :meth:`add` has not shown yet, once the generation has ended: an
        unfinished character, as U+FFFD the way decoding the whole text gives it (so the pieces
        add up to the text even when a generation stops inside a character)."""
        if self._shown == len(self.tokens):
            return ""
        before, after = self._unshown()
        self._shown = len(self.tokens)
        return after[len(before) :] if after.startswith(before) else ""

    def _unshown(self) -> tuple[str, str]:
        """The text of a few shown tokens, without and with the tokens not shown yet."""
        start = max(0, self._shown - self.CONTEXT)
        before = self.tokenizer.decode(self.tokens[start : self._shown], skip_special_tokens=True)
        return before, self.tokenizer.decode(self.tokens[start:], skip_special_tokens=True)


def model_text(tokenizer: Any, completion: Completion) -> str:
    """What a local model reads for ``completion``: its raw text, or its conversation in the chat template."""
    if completion.text is not None:
        return completion.text
    return conversation_text(tokenizer, completion.messages)


@contextlib.contextmanager
def streaming_to(sink: Callable[[str], None]) -> Iterator[None]:
    """In this block, a backend generating token by token in this thread hands ``sink`` each token's text as it is made.

    The pieces add up to the generation's text (an end-of-sequence token adds nothing). A server
    streams them to its client; ``sink`` runs on the generating thread, so it must be quick.
    A context for the same reason as :func:`stopping_when`: a backend that cannot stream never
    looks, and its whole text arrives at once.
    """
    reset = _token_sink.set(sink)
    try:
        yield
    finally:
        _token_sink.reset(reset)


def emit_token(piece: str) -> None:
    """For backends: hand the text one new token adds to the sink of :func:`streaming_to`, if any."""
    sink = _token_sink.get()
    if sink is not None and piece:
        sink(piece)


@contextlib.contextmanager
def stopping_when(*events: threading.Event) -> Iterator[None]:
    """In this block, a backend generating token by token in this thread stops early once any of ``events`` is set.

    A server sets one when its client leaves or when it shuts down, so a long generation frees
    the model at its next token. A context rather than an argument of ``generate``: every
    backend (and every test's policy) implements that signature, and one that cannot stop
    (a remote server's) simply never looks. What a stopped generation made so far is returned.
    """
    reset = _stop_events.set(_stop_events.get() + events)  # nested blocks add their events
    try:
        yield
    finally:
        _stop_events.reset(reset)


def should_stop() -> bool:
    """Whether the generation running in this thread was asked to stop (see :func:`stopping_when`)."""
    return any(event.is_set() for event in _stop_events.get())
