"""The vision model behind an OpenAI-compatible ``/v1/chat/completions``, through the ``openai`` client.

The client's own retries are off: this module retries 408/429/5xx and refused connections
itself (honouring ``Retry-After`` the way :mod:`traj.policy` does), so that no wait runs past
the demo's deadline and every request is counted. A call either returns the model's text or
raises :class:`CallFailedError` with the reason an ``enrichment.failed`` event records.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from traj.errors import one_line
from traj.policy import NIM_BASE_URL, RETRY_STATUSES, is_loopback, response_detail, retry_delay

if TYPE_CHECKING:
    from traj.eventlog import EnrichmentFailureReason

__all__ = ["NIM_BASE_URL", "CallFailedError", "OpenAIVisionClient", "resolve_api_key"]

_LOOPBACK_KEY = "not-needed"
"""Sent to a server on this machine when no key is set: the client insists on some key."""


class CallFailedError(Exception):
    """A request for one step failed for good: the reason and details of its ``enrichment.failed``."""

    def __init__(
        self, reason: EnrichmentFailureReason, detail: str, *, status: int | None = None, attempts: int = 0
    ) -> None:
        super().__init__(detail)
        self.reason: EnrichmentFailureReason = reason
        self.detail = detail
        self.status = status
        self.attempts = attempts


def resolve_api_key(base_url: str, api_key: str | None = None) -> str | None:
    """The key to send to ``base_url``: ``api_key``, else ``$TRAJ_ENRICH_API_KEY``, else
    ``$NVIDIA_API_KEY`` for NIM's hosted API; a server on this machine needs none.

    The NVIDIA key goes to NIM only, never to another host that happens to be configured.
    """
    key = api_key or os.environ.get("TRAJ_ENRICH_API_KEY")
    if key:
        return key
    if is_loopback(base_url):
        return _LOOPBACK_KEY
    if base_url.rstrip("/") == NIM_BASE_URL:
        return os.environ.get("NVIDIA_API_KEY") or None
    return None


class OpenAIVisionClient:
    """An OpenAI-compatible endpoint (NIM, vLLM, ``traj serve``); safe to call from several threads."""

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float,
        max_retries: int,
        max_tokens: int,
    ) -> None:
        import openai

        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self._client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout_s, max_retries=0)
        self._lock = threading.Lock()
        self.calls = 0
        """Requests sent so far, retries and re-asks included."""

    def complete(self, messages: list[dict[str, Any]], *, deadline: float) -> tuple[str, int]:
        """One chat completion at temperature 0, retried on 408/429/5xx and refused connections."""
        import openai

        attempt = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CallFailedError("timeout", "the demo's time budget ran out before this step", attempts=attempt)
            timeout = min(self.timeout_s, remaining)
            with self._lock:
                self.calls += 1
            headers: Any = None
            try:
                response = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    max_tokens=self.max_tokens,
                    temperature=0.0,
                    timeout=timeout,
                )
            except openai.APITimeoutError:
                where = "the demo's time budget ran out" if timeout < self.timeout_s else f"per call: {timeout:g} s"
                raise CallFailedError(
                    "timeout", f"{self.base_url} did not answer in time ({where})", attempts=attempt + 1
                ) from None
            except openai.APIConnectionError as exc:
                failure = CallFailedError(
                    "connection", f"cannot connect to {self.base_url}: {_connection_reason(exc)}", attempts=attempt + 1
                )
                retryable = True
            except openai.APIStatusError as exc:
                failure = _status_failure(exc, self.base_url, self.model, attempt + 1)
                retryable = exc.status_code in RETRY_STATUSES
                headers = exc.response.headers
            except openai.OpenAIError as exc:
                raise CallFailedError(
                    "error", f"{self.base_url} gave an unusable answer: {one_line(exc)}", attempts=attempt + 1
                ) from None
            else:
                choice = response.choices[0] if response.choices else None
                return (choice.message.content if choice is not None else None) or "", attempt + 1
            if not retryable or attempt >= self.max_retries:
                raise failure
            delay = retry_delay(attempt, headers)
            if time.monotonic() + delay >= deadline:
                failure.detail += f" (the next try, {delay:.1f} s later, would pass the demo's time budget)"
                raise failure
            time.sleep(delay)
            attempt += 1

    def close(self) -> None:
        self._client.close()


def _status_failure(exc: Any, url: str, model: str, attempts: int) -> CallFailedError:
    status = exc.status_code
    detail = response_detail(exc.response)
    tries = f"{attempts} request{'s' if attempts != 1 else ''}"
    if status == 429:
        reason, text = "rate_limited", f"{url} is rate limiting (HTTP 429) after {tries}: {detail}"
    elif status >= 500:
        reason, text = "server_error", f"{url} failed with HTTP {status} after {tries}: {detail}"
    elif status in (401, 403):
        reason = "auth"
        text = f"{url} refused the API key (HTTP {status}: {detail}); set TRAJ_ENRICH_API_KEY or NVIDIA_API_KEY"
    elif status == 404:
        reason, text = "http_error", f"model {model!r} not found at {url} (HTTP 404: {detail})"
    else:
        reason, text = "http_error", f"{url} rejected the request (HTTP {status}): {detail}"
    return CallFailedError(reason, text, status=status, attempts=attempts)  # type: ignore[arg-type]


def _connection_reason(exc: BaseException) -> str:
    text = one_line(exc.__cause__ or exc)
    if "refused" in text.lower():
        return "connection refused (is the server running and listening there?)"
    return text
