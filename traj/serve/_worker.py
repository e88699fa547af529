"""The one thread all policy work runs on, generations that stop when nobody waits, and policy errors as HTTP errors.

Policies are not thread-safe, and some (mlx) want the same thread every time: every call on the
policy goes through one :class:`PolicyWorker`, one at a time. A generation stops at its next
token when its client leaves or when the server begins to stop (503), so neither a gone client
nor a shutdown waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Request

from traj.errors import PolicyError, one_line
from traj.policy import (
    Policy,
    PolicyAuthError,
    PolicyConnectionError,
    PolicyNotFoundError,
    PolicyRateLimitError,
    PolicyRequestError,
    PolicyServerError,
    PolicyTimeoutError,
    stopping_when,
)
from traj.serve._errors import ApiError

__all__ = ["Emit", "PolicyWorker", "activate", "check_limit", "check_room", "guarded", "names"]

log = logging.getLogger("traj.serve")
T = TypeVar("T")
Emit = Callable[[str], None]
"""Where a generation hands the text it may already show its client (streaming)."""
_END = object()


class PolicyWorker:
    """Runs policy work on one thread; ``stopping`` is set as the server begins to stop."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="traj-policy")
        self.stopping = threading.Event()

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        return self.pool.submit(function, *args)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the worker, awaited."""
        return await asyncio.wrap_future(self.pool.submit(function, *args))

    async def generate(self, request: Request, generate: Callable[[Emit], T]) -> T:
        """``generate`` on the worker, stopped at its next token if the client leaves or the server stops.

        What it emits is dropped: the client waits for the whole answer.
        """
        gone = threading.Event()
        work = asyncio.wrap_future(self.pool.submit(self._generation, generate, gone, _ignore))
        left = asyncio.ensure_future(_client_left(request))
        try:
            await asyncio.wait({work, left}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when this task is cancelled: a shutdown's grace period ran out
            left.cancel()
            if not work.done():
                gone.set()
                work.cancel()  # one still queued never starts
        if work.cancelled():
            raise ApiError(499, "the client left; the generation was stopped")
        return work.result()

    async def stream(self, generate: Callable[[Emit], T]) -> AsyncIterator[str | T]:
        """Yields each text ``generate`` emits as it comes, then what it returns.

        Closing the iterator early (the client left: Starlette cancels the response) stops the
        generation at its next token.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        gone = threading.Event()

        def emit(text: str) -> None:
            if text:
                loop.call_soon_threadsafe(queue.put_nowait, text)

        work = asyncio.wrap_future(self.pool.submit(self._generation, generate, gone, emit))
        work.add_done_callback(lambda _: queue.put_nowait(_END))  # after every emitted text: same loop, in order
        try:
            while (item := await queue.get()) is not _END:
                yield item
            yield await work
        finally:
            if not work.done():
                gone.set()
                work.cancel()

    def _generation(self, generate: Callable[[Emit], T], gone: threading.Event, emit: Emit) -> T:
        if not self.stopping.is_set():
            with stopping_when(gone, self.stopping):
                result = generate(emit)
            if not self.stopping.is_set():
                return result
        raise ApiError(503, "the server is shutting down; the generation was stopped", code="shutting_down")

    def close(self) -> None:
        self.stopping.set()
        self.pool.shutdown(wait=False, cancel_futures=True)


def activate(policy: Policy, adapter: str | None) -> None:
    """On the worker thread: make ``adapter`` (``None``: the base model) the one that generates next."""
    if adapter is not None and adapter not in guarded(lambda: policy.adapters):
        raise ApiError(404, f"no adapter named {adapter!r} is loaded (loaded: {names(policy.adapters)})")
    if policy.active_adapter != adapter:
        guarded(lambda: policy.set_adapter(adapter))


def check_limit(tokens: int, limit: int, field: str, *, status: int) -> None:
    """Refuse a generation longer than the server allows: it would hold the one model thread that long."""
    if tokens > limit:
        raise ApiError(status, f"{field}: at most {limit} new tokens on this server (--max-new-tokens)", param=field)


def check_room(prompt_tokens: int, tokens: int, context: int, field: str, *, status: int) -> None:
    """Refuse a generation that would run past the model's context window (positions it never learnt)."""
    if prompt_tokens + tokens > context:
        raise ApiError(
            status,
            f"{field}: the prompt's {prompt_tokens} tokens and {tokens} new ones exceed the model's "
            f"context window of {context} tokens",
            param=field,
        )


def guarded(call: Callable[[], T], *, status: int = 500) -> T:
    """Run ``call``; a policy's error becomes an HTTP error of the fitting status, anything else a 500."""
    try:
        return call()
    except ApiError:
        raise
    except PolicyNotFoundError as exc:
        raise ApiError(404, str(exc)) from None
    except PolicyTimeoutError as exc:
        raise ApiError(504, str(exc)) from None
    except PolicyRateLimitError as exc:
        raise ApiError(429, str(exc)) from None
    except (PolicyAuthError, PolicyConnectionError, PolicyServerError) as exc:  # the policy's own upstream failed
        raise ApiError(502, str(exc)) from None
    except PolicyRequestError as exc:  # the policy's upstream refused the request: the client's to fix
        raise ApiError(400 if exc.status in (400, 422) else 502, str(exc)) from None
    except PolicyError as exc:
        raise ApiError(status, str(exc)) from None
    except Exception as exc:
        log.exception("policy call failed")
        raise ApiError(500, f"internal error: {one_line(exc)}") from None


def names(items: list[str]) -> str:
    return ", ".join(items) or "none"


def _ignore(text: str) -> None:
    """The emit of a generation whose client waits for the whole answer."""


async def _client_left(request: Request) -> None:
    """Returns once the client has gone. The body is read by now, so the next message uvicorn has is the disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
