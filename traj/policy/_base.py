"""The protocol every policy backend implements, and what a generation returns.

A policy turns a :class:`~traj.prompt.Prompt` into text. Backends that hold a model in process
(``transformers``, ``mlx``) also hold several LoRA adapters over one base model and switch the
active one without reloading the base; remote backends name the adapter per request.

A backend that reads the prompt's screenshot sets ``vision = True``; the agent then takes the
screenshot before prompting. For the others it is taken while the model generates, so
``generate`` must be callable from a worker thread (one thread per run, always the same).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from traj.prompt import Prompt

__all__ = ["Generation", "Policy", "should_stop", "stopping_when"]

_stop_events: ContextVar[tuple[threading.Event, ...]] = ContextVar("traj_stop_events", default=())


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


@contextlib.contextmanager
def stopping_when(*events: threading.Event) -> Iterator[None]:
    """In this block, a backend generating token by token in this thread stops early once any of ``events`` is set.

    A server sets one when its client leaves or when it shuts down, so a long generation frees
    the model at its next token. A context rather than an argument of ``generate``: every
    backend (and every test's policy) implements that signature, and one that cannot stop
    (a remote server's) simply never looks. What a stopped generation made so far is returned.
    """
    reset = _stop_events.set(events)
    try:
        yield
    finally:
        _stop_events.reset(reset)


def should_stop() -> bool:
    """Whether the generation running in this thread was asked to stop (see :func:`stopping_when`)."""
    return any(event.is_set() for event in _stop_events.get())
