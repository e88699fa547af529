"""The ``remote`` backend: a policy served by ``traj serve`` on another machine (a GPU box), over HTTP.

The server holds the base model and its adapters; this side names the adapter in every
``POST /act``, so two clients with different adapters never disturb each other. Loading
and unloading adapters goes through ``POST /adapters/{name}/load|unload``; the adapter's path
is a directory on the server's machine. Retries and errors follow the ``openai`` backend's.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from traj.errors import PolicyAuthError, PolicyError, PolicyNotFoundError, PolicyRateLimitError, PolicyServerError
from traj.policy._base import Generation
from traj.policy._http import TokenEstimate, response_detail, send

if TYPE_CHECKING:
    import httpx

    from traj.prompt import Prompt

__all__ = ["RemotePolicy"]


class RemotePolicy:
    """The policy of a traj server: ``/act`` for decisions, ``/adapters/...`` to change adapters."""

    backend = "remote"

    def __init__(
        self,
        server_url: str | None = None,
        *,
        timeout_s: float = 60,
        adapter: str | None = None,
        api_key: str | None = None,
        max_retries: int = 2,
    ) -> None:
        """``server_url`` defaults to ``$TRAJ_SERVER_URL``; ``api_key`` to ``$TRAJ_SERVER_TOKEN``, then ``$TRAJ_TOKEN``.

        Asks the server's ``/health`` once, here: an unreachable server or a wrong token fails
        now, not at the first decision. ``adapter`` must be loaded on the server.
        """
        import httpx

        url = server_url or os.environ.get("TRAJ_SERVER_URL")
        if not url:
            raise PolicyError("no traj server given: pass server_url or set TRAJ_SERVER_URL (e.g. http://gpu-box:8000)")
        self.server_url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        token = api_key or os.environ.get("TRAJ_SERVER_TOKEN") or os.environ.get("TRAJ_TOKEN")
        self._client = httpx.Client(
            base_url=self.server_url,
            timeout=timeout_s,
            headers={"Authorization": f"Bearer {token}"} if token else {},
        )
        self._tokens = TokenEstimate()
        self._active: str | None = None
        self.last_action: dict[str, Any] | None = None
        """The action the server parsed out of the last answer (``None``: see ``last_parse_error``)."""
        self.last_parse_error: str | None = None
        try:
            health = self._health()
        except BaseException:
            self._client.close()
            raise
        if "model_id" not in health:  # an anonymous /health answers liveness only
            self._client.close()
            raise PolicyAuthError(
                f"{self.server_url} wants a token (HTTP 401 on every route but /health's liveness); "
                "pass api_key or set TRAJ_SERVER_TOKEN to the server's token",
                url=self.server_url,
                status=401,
            )
        self.model_id: str = str(health.get("model_id", ""))
        self.context_window: int = int(health.get("context_window") or 2048)
        self.vision: bool = bool(health.get("vision", False))
        self.server_backend: str = str(health.get("backend", ""))
        """The backend behind the server (``transformers``, ``mlx``, ...)."""
        if adapter is not None:
            self._check_served(adapter, list(health.get("adapters") or []))
            self._active = adapter

    # ------------------------------------------------------------------ adapters

    @property
    def adapters(self) -> list[str]:
        return list(self._health().get("adapters") or [])

    @property
    def active_adapter(self) -> str | None:
        return self._active

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Load the adapter at ``path`` (on the server's machine) under ``name`` and use it."""
        self._request(
            "POST", f"/adapters/{quote(name, safe='')}/load", json={"path": str(path)}, what=f"loading adapter {name!r}"
        )
        self._active = name

    def set_adapter(self, name: str | None) -> None:
        if name is not None:
            self._check_served(name, self.adapters)
        self._active = name

    def unload_adapter(self, name: str) -> None:
        self._request("POST", f"/adapters/{quote(name, safe='')}/unload", what=f"unloading adapter {name!r}")
        if self._active == name:
            self._active = None

    # ------------------------------------------------------------------ generation

    def count_tokens(self, text: str) -> int:
        """Estimated (no tokenizer here), calibrated by the counts the server reports."""
        return self._tokens.count(text)

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        screenshot = None
        if self.vision and prompt.screenshot is not None:
            screenshot = base64.b64encode(prompt.screenshot).decode("ascii")
        body = {
            "prompt": prompt.text,
            "screenshot": screenshot,
            "adapter": self._active,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
        }
        started = time.perf_counter()
        # A timed-out generation is not retried: the server is still busy with it, and serves one at a time.
        answer = self._request("POST", "/act", json=body, what="generating", retry_timeouts=False)
        seconds = time.perf_counter() - started
        try:
            text = str(answer["text"])
            prompt_tokens = int(answer.get("prompt_tokens") or 0)
            completion_tokens = int(answer.get("completion_tokens") or 0)
            logprobs = [float(value) for value in answer.get("token_logprobs") or []]
            pieces = [str(piece) for piece in answer.get("token_texts") or []]
        except (KeyError, TypeError, ValueError):
            raise PolicyError(f"{self.server_url}/act answered in an unknown shape: {str(answer)[:200]}") from None
        if prompt_tokens and screenshot is None:
            self._tokens.observe(prompt.text, prompt_tokens)
        self.last_action, self.last_parse_error = answer.get("action"), answer.get("parse_error")
        prompt_tokens = prompt_tokens or self._tokens.count(prompt.text)
        return Generation(text, prompt_tokens, completion_tokens, seconds, logprobs, pieces)

    # ------------------------------------------------------------------ HTTP

    def _health(self) -> dict[str, Any]:
        return self._request("GET", "/health", what="the health check")

    def _check_served(self, name: str, served: list[str]) -> None:
        if name not in served:
            loaded = ", ".join(served) or "none"
            raise PolicyNotFoundError(
                f"adapter {name!r} is not loaded on {self.server_url} (loaded: {loaded}); load it first",
                url=self.server_url,
            )

    def _request(
        self, method: str, path: str, *, json: Any = None, what: str, retry_timeouts: bool = True
    ) -> dict[str, Any]:
        response, attempts = send(
            self._client,
            method,
            path,
            json=json,
            max_retries=self.max_retries,
            retry_timeouts=retry_timeouts,
            what="the traj server",
        )
        if response.is_success:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                raise PolicyError(f"{self.server_url}{path} answered with something other than a JSON object")
            return answer
        raise _error(response, attempts, url=f"{self.server_url}{path}", what=what)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemotePolicy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _error(response: httpx.Response, attempts: int, *, url: str, what: str) -> PolicyError:
    status = response.status_code
    detail = response_detail(response)
    if status in (401, 403):
        return PolicyAuthError(
            f"{url} refused the request (HTTP {status}: {detail}); pass api_key or set TRAJ_SERVER_TOKEN "
            "to the server's token",
            url=url,
            status=status,
        )
    if status == 404:
        return PolicyNotFoundError(f"{what}: {url} answered HTTP 404: {detail}", url=url, status=status)
    if status == 429:
        return PolicyRateLimitError(
            f"{what}: {url} is rate limiting requests (HTTP 429) after {attempts} attempts: {detail}",
            url=url,
            status=status,
        )
    if status >= 500:
        return PolicyServerError(
            f"{what}: {url} failed with HTTP {status} after {attempts} attempts: {detail}", url=url, status=status
        )
    return PolicyError(f"{what}: {url} rejected the request (HTTP {status}): {detail}")
