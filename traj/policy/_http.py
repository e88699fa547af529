"""What the HTTP backends (``openai``, ``remote``) share: their errors, retries and token estimates.

    PolicyError
    └── PolicyRequestError         a request to a policy's server failed
        ├── PolicyConnectionError  the server could not be reached (refused, DNS, reset)
        ├── PolicyTimeoutError     the server did not answer within ``timeout_s``
        ├── PolicyAuthError        the server refused the key or token (HTTP 401/403)
        ├── PolicyNotFoundError    the model or adapter is not served there (HTTP 404)
        ├── PolicyRateLimitError   still rate limited (HTTP 429) after the retries
        └── PolicyServerError      the server failed (HTTP 5xx) after the retries

Messages are one line and name the URL, so a run's ``policy failed: ...`` says where to look.
"""

from __future__ import annotations

import ipaddress
import math
import random
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from traj.errors import (
    PolicyConnectionError,
    PolicyTimeoutError,
    one_line,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "TokenEstimate",
    "is_loopback",
    "response_detail",
    "send",
]

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Retried like the ``openai`` client does, less 409: traj's server means "already loaded" by it."""
_INITIAL_DELAY_S = 0.5
_MAX_DELAY_S = 8.0
_MAX_RETRY_AFTER_S = 60.0


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (no key is needed to talk to oneself)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_delay(
    attempt: int, headers: Any = None, *, first_s: float = _INITIAL_DELAY_S, max_s: float = _MAX_DELAY_S
) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): the server's ``Retry-After`` when it
    gives a sane one, else exponential backoff from ``first_s`` up to ``max_s`` with jitter, the
    way the ``openai`` client waits."""
    if headers is not None:
        for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
            value = headers.get(name)
            if value is None:
                continue
            try:
                seconds = float(value) / divisor
            except ValueError:
                continue
            if math.isfinite(seconds) and 0 < seconds <= _MAX_RETRY_AFTER_S:
                return seconds
    return min(first_s * 2.0**attempt, max_s) * (1 - 0.25 * random.random())


def send(
    client: httpx.Client,
    method: str,
    path: str,
    *,
    json: Any = None,
    max_retries: int,
    retry_timeouts: bool = True,
    what: str = "the server",
) -> tuple[httpx.Response, int]:
    """Send one request, retrying connection errors, 408/429/5xx (honouring ``Retry-After``) and,
    when ``retry_timeouts``, timeouts. Returns the last response (any status) and the attempts
    made; a transport failure after the retries becomes a traj error."""
    import httpx

    url = f"{str(client.base_url).rstrip('/')}{path}"
    attempt = 0
    while True:
        try:
            response = client.request(method, path, json=json)
        except httpx.TimeoutException:
            if retry_timeouts and attempt < max_retries:
                time.sleep(retry_delay(attempt))
                attempt += 1
                continue
            timeout = client.timeout.read or client.timeout.connect
            raise PolicyTimeoutError(
                f"{what} at {url} did not answer within {timeout:g} s (timeout_s)", url=url
            ) from None
        except httpx.TransportError as exc:
            if attempt < max_retries:
                time.sleep(retry_delay(attempt))
                attempt += 1
                continue
            raise PolicyConnectionError(f"cannot connect to {what} at {url}: {_reason(exc)}", url=url) from None
        if response.status_code in RETRY_STATUSES and attempt < max_retries:
            time.sleep(retry_delay(attempt, response.headers))
            attempt += 1
            continue
        return response, attempt + 1


def response_detail(response: httpx.Response) -> str:
    """The server's own words about a failed response: FastAPI's ``detail``, OpenAI's ``error.message``."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return " ".join(str(error["message"]).split())
        if isinstance(error, str):
            return error
        if body.get("detail"):
            detail = body["detail"]
            return detail if isinstance(detail, str) else " ".join(str(detail).split())[:300]
        if body.get("message"):
            return str(body["message"])
    return " ".join(str(body).split())[:300]


def _reason(exc: BaseException) -> str:
    text = one_line(exc)
    if "refused" in text.lower():
        return "connection refused (is the server running and listening there?)"
    return text


class TokenEstimate:
    """Token counts for a backend without a local tokenizer, calibrated by what the server reports.

    A text sent before counts exactly what the server said it took (chat template included);
    other texts scale by the characters per token seen so far, else 4 characters a token.
    """

    _KEEP = 64

    def __init__(self) -> None:
        self._exact: dict[str, int] = {}
        self._chars = 0
        self._tokens = 0

    def observe(self, text: str, prompt_tokens: int) -> None:
        """Record that the server counted ``prompt_tokens`` for a request whose text was ``text``."""
        if prompt_tokens <= 0 or not text:
            return
        if len(self._exact) >= self._KEEP:
            self._exact.pop(next(iter(self._exact)))
        self._exact[text] = prompt_tokens
        self._chars += len(text)
        self._tokens += prompt_tokens

    def count(self, text: str) -> int:
        if text in self._exact:
            return self._exact[text]
        if self._tokens:
            return math.ceil(len(text) * self._tokens / self._chars)
        from traj.prompt import approx_tokens

        return approx_tokens(text)
