"""The ``openai`` backend: any OpenAI-compatible chat endpoint (NVIDIA NIM, vLLM, OpenAI, ``traj serve``).

Each prompt goes out as one user message through the official ``openai`` client, with the
screenshot as an ``image_url`` part for vision models; a :class:`~traj.policy.Completion` goes
out whole (its conversation, or its raw text to ``/v1/completions``, and every option in it),
so ``traj serve`` in front of a vLLM server honours what vLLM honours. The client retries connection errors,
429 (honouring ``Retry-After``) and 5xx itself; what still fails becomes a
:class:`~traj.policy.PolicyRequestError` subclass with a one-line message.

Adapters are served models: a generic endpoint cannot load a LoRA adapter on request, so the
server must already serve it under a model name (vLLM ``--lora-modules name=path``, or
``traj serve``), and ``set_adapter(name)`` makes requests ask for ``model=name``.
"""

from __future__ import annotations

import base64
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traj.errors import (
    PolicyAuthError,
    PolicyConnectionError,
    PolicyError,
    PolicyNotFoundError,
    PolicyRateLimitError,
    PolicyRequestError,
    PolicyServerError,
    PolicyTimeoutError,
    one_line,
)
from traj.policy._base import Completion, Generation
from traj.policy._http import TokenEstimate, is_loopback

if TYPE_CHECKING:
    from traj.prompt import Prompt

__all__ = ["NIM_BASE_URL", "OpenAIPolicy", "guess_vision"]

NIM_BASE_URL = "https://integrate.api.nvidia.com/v1"
OPENAI_BASE_URL = "https://api.openai.com/v1"
_LOOPBACK_KEY = "not-needed"
"""Sent to a server on this machine when no key is given: the client insists on some key."""
_VISION_NAME = re.compile(
    r"vision|(?:^|[^a-z0-9])vl(?:$|[^a-z])|llava|gpt-4o|gpt-4\.1|gpt-5|pixtral|llama-4|internvl|smolvlm|idefics|molmo",
)


def guess_vision(model: str) -> bool:
    """Whether a served model's name says it reads images (``...-vision-...``, ``Qwen2.5-VL``, ``gpt-4o``)."""
    return bool(_VISION_NAME.search(model.lower()))


class OpenAIPolicy:
    """A model served behind an OpenAI-compatible ``/v1/chat/completions`` endpoint (a ``ChatPolicy``)."""

    backend = "openai"
    constrains_output = True
    """A ``response_format`` goes to the server, which constrains its decoding (vLLM) or refuses."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 60,
        max_retries: int = 2,
        vision: bool | None = None,
        context_window: int = 8192,
    ) -> None:
        """``base_url`` defaults to ``$TRAJ_OPENAI_BASE_URL``, ``$OPENAI_BASE_URL``, then OpenAI's.

        The key is ``api_key``, else ``$TRAJ_OPENAI_API_KEY``, else ``$NVIDIA_API_KEY`` for NIM,
        else ``$OPENAI_API_KEY``. A server on this machine needs none (only an explicit key or
        ``$TRAJ_OPENAI_API_KEY`` is sent there); any other server without a key is an error
        here, before any request. ``timeout_s`` is per attempt; the client makes up to
        ``max_retries`` more. ``vision`` (default: guessed from the model's name) sends the
        prompt's screenshot along.
        """
        import openai

        self.model_id = model
        self.base_url = (
            base_url or os.environ.get("TRAJ_OPENAI_BASE_URL") or os.environ.get("OPENAI_BASE_URL") or OPENAI_BASE_URL
        ).rstrip("/")
        self.context_window = context_window
        self.vision = guess_vision(model) if vision is None else vision
        self.timeout_s = timeout_s
        key = api_key or _key_from_env(self.base_url)
        if not key:
            variables = " or ".join(_key_env_vars(self.base_url))
            raise PolicyError(f"no API key for {self.base_url}: pass api_key or set {variables}")
        self._client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=timeout_s, max_retries=max_retries)
        self._active: str | None = None
        self._tokens = TokenEstimate()
        self._send_logprobs = True
        self._tokens_field = "max_tokens"

    # ------------------------------------------------------------------ adapters

    @property
    def adapters(self) -> list[str]:
        """The ids ``/v1/models`` lists, other than the base model: the adapters one can select."""
        try:
            ids = [model.id for model in self._client.models.list()]
        except Exception as exc:
            raise self._translate(exc, what="listing models") from None
        return [name for name in ids if name != self.model_id]

    @property
    def active_adapter(self) -> str | None:
        return self._active

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Not possible over a generic endpoint: serve the adapter there, then ``set_adapter(name)``."""
        raise PolicyError(
            f"the openai backend cannot load the adapter at {path}: serve it at {self.base_url} under a name "
            f"(vLLM: --lora-modules {name}={path}; traj serve: POST /adapters/{name}/load), then set_adapter({name!r})"
        )

    def set_adapter(self, name: str | None) -> None:
        """Ask for ``model=name`` from now on (``None``: the base model). The server must serve it."""
        self._active = None if name == self.model_id else name

    def unload_adapter(self, name: str) -> None:
        """Stop asking for ``name``; the server keeps serving it."""
        if self._active == name:
            self._active = None

    # ------------------------------------------------------------------ generation

    def count_tokens(self, text: str) -> int:
        return self._tokens.count(text)

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        image = prompt.screenshot if self.vision else None
        return self.complete(
            Completion.of_prompt(prompt, max_new_tokens=max_new_tokens, temperature=temperature, image=image)
        )

    def prompt_tokens(self, completion: Completion) -> int:
        """Counted as one user turn of the text (vLLM counts it exactly, others estimate): the server templates it."""
        return self.count_tokens(_plain(completion))

    def complete(self, completion: Completion) -> Generation:
        """Everything the completion asks goes to the server (conversation, raw text to ``/v1/completions``,
        ``top_p``, ``seed``, ``top_logprobs``, ``response_format``): it honours or refuses, not this client."""
        started = time.perf_counter()
        response = self._create(completion)
        seconds = time.perf_counter() - started
        choice = response.choices[0] if response.choices else None
        if completion.text is None:
            text = (choice.message.content if choice is not None else None) or ""
            logprobs, pieces, top = _chat_logprobs(choice)
        else:
            text = (choice.text if choice is not None else None) or ""
            logprobs, pieces, top = _text_logprobs(choice)
        usage = response.usage
        plain = _plain(completion)
        if usage is not None and usage.prompt_tokens:
            prompt_tokens = int(usage.prompt_tokens)
            if completion.image is None:  # image tokens would skew the characters-per-token estimate
                self._tokens.observe(plain, prompt_tokens)
        else:
            prompt_tokens = self._tokens.count(plain)
        if usage is not None and usage.completion_tokens is not None:
            completion_tokens = int(usage.completion_tokens)
        else:
            completion_tokens = len(logprobs) or self._tokens.count(text)
        return Generation(text, prompt_tokens, completion_tokens, seconds, logprobs, pieces, top)

    def _create(self, completion: Completion) -> Any:
        """One chat or text completion; drops options the server rejects (``logprobs``, unless the caller
        asked for top alternatives; ``max_tokens`` where it wants ``max_completion_tokens``) and asks again,
        remembering for next time."""
        import openai

        model = self._active or self.model_id
        raw = completion.text is not None
        while True:
            options: dict[str, Any] = {
                "max_tokens" if raw else self._tokens_field: completion.max_new_tokens,
                "temperature": completion.temperature,
            }
            if completion.top_p < 1.0:
                options["top_p"] = completion.top_p
            if completion.seed is not None:
                options["seed"] = completion.seed
            if completion.response_format is not None:
                options["response_format"] = dict(completion.response_format)
            if self._send_logprobs or completion.top_logprobs:
                if raw:
                    options["logprobs"] = completion.top_logprobs
                else:
                    options["logprobs"] = True
                    if completion.top_logprobs:
                        options["top_logprobs"] = completion.top_logprobs
            try:
                if raw:
                    return self._client.completions.create(model=model, prompt=completion.text or "", **options)
                return self._client.chat.completions.create(
                    model=model,
                    messages=_messages(completion),  # type: ignore[arg-type]
                    **options,
                )
            except openai.BadRequestError as exc:
                message = _message(exc).lower()
                if self._send_logprobs and not completion.top_logprobs and "logprob" in message:
                    self._send_logprobs = False
                    continue
                if not raw and self._tokens_field == "max_tokens" and "max_completion_tokens" in message:
                    self._tokens_field = "max_completion_tokens"
                    continue
                raise self._translate(exc, model=model) from None
            except Exception as exc:
                raise self._translate(exc, model=model) from None

    def _translate(self, exc: Exception, *, model: str | None = None, what: str = "generating") -> Exception:
        """The ``openai`` client's error as a traj error with a one-line message."""
        import openai

        url = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            return PolicyTimeoutError(
                f"{url} did not answer within {self.timeout_s:g} s (timeout_s) while {what}", url=url
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            reason = one_line(cause)
            if "refused" in reason.lower():
                reason = "connection refused (is the server running and listening there?)"
            return PolicyConnectionError(f"cannot connect to {url}: {reason}", url=url)
        if not isinstance(exc, openai.APIStatusError):
            if isinstance(exc, PolicyError):
                return exc
            return PolicyError(f"{url} failed while {what}: {one_line(exc)}")
        status = exc.status_code
        detail = _message(exc)
        if status in (401, 403):
            variables = " or ".join(_key_env_vars(url))
            return PolicyAuthError(
                f"{url} refused the API key (HTTP {status}: {detail}); check api_key or {variables}",
                url=url,
                status=status,
            )
        if status == 404:
            subject = f"model {model!r}" if model else "the resource"
            hint = "the server must already serve it under that name"
            if model and model not in detail:  # a bare "Not Found" is more likely a wrong path than a model
                hint += f" (or is {url} not the API's base URL, e.g. missing /v1?)"
            return PolicyNotFoundError(
                f"{subject} not found at {url} (HTTP 404: {detail}); {hint}", url=url, status=status
            )
        if status == 429:
            return PolicyRateLimitError(
                f"{url} is rate limiting requests (HTTP 429) after {self._client.max_retries + 1} attempts: {detail}",
                url=url,
                status=status,
            )
        if status >= 500:
            return PolicyServerError(
                f"{url} failed with HTTP {status} after {self._client.max_retries + 1} attempts: {detail}",
                url=url,
                status=status,
            )
        return PolicyRequestError(f"{url} rejected the request (HTTP {status}): {detail}", url=url, status=status)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIPolicy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _plain(completion: Completion) -> str:
    """The completion's text without any template: what the token estimate learns from."""
    if completion.text is not None:
        return completion.text
    return "\n".join(turn["content"] for turn in completion.messages)


def _messages(completion: Completion) -> list[dict[str, Any]]:
    """The conversation as the API takes it, the image (if any) as a PNG data URL in the last user turn."""
    messages: list[dict[str, Any]] = [dict(turn) for turn in completion.messages]
    if completion.image is not None:
        last = max(index for index, turn in enumerate(messages) if turn["role"] == "user")
        data = base64.b64encode(completion.image).decode("ascii")
        messages[last]["content"] = [
            {"type": "text", "text": messages[last]["content"]},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
        ]
    return messages


def _chat_logprobs(choice: Any) -> tuple[list[float], list[str], list[list[tuple[str, float]]]]:
    """Each token's log probability, text and top alternatives, from a chat choice (empty when not reported)."""
    content = choice.logprobs.content if choice is not None and choice.logprobs is not None else None
    if not content:
        return [], [], []
    return (
        [float(item.logprob) for item in content],
        [item.token or "" for item in content],
        [[(top.token, float(top.logprob)) for top in item.top_logprobs or []] for item in content],
    )


def _text_logprobs(choice: Any) -> tuple[list[float], list[str], list[list[tuple[str, float]]]]:
    """The same from a text completion's choice (the legacy shape)."""
    logprobs = choice.logprobs if choice is not None else None
    if logprobs is None or not logprobs.tokens:
        return [], [], []
    alternatives = logprobs.top_logprobs or [{} for _ in logprobs.tokens]
    return (
        [float(value or 0.0) for value in logprobs.token_logprobs],
        list(logprobs.tokens),
        [[(token, float(value)) for token, value in (top or {}).items()] for top in alternatives],
    )


def _key_env_vars(base_url: str) -> list[str]:
    if is_loopback(base_url):
        return ["TRAJ_OPENAI_API_KEY"]
    if base_url.rstrip("/") == NIM_BASE_URL:
        return ["TRAJ_OPENAI_API_KEY", "NVIDIA_API_KEY", "OPENAI_API_KEY"]
    return ["TRAJ_OPENAI_API_KEY", "OPENAI_API_KEY"]


def _key_from_env(base_url: str) -> str | None:
    if is_loopback(base_url):  # a local server: never hand it a cloud key, it needs none
        return os.environ.get("TRAJ_OPENAI_API_KEY") or _LOOPBACK_KEY
    for variable in _key_env_vars(base_url):
        if os.environ.get(variable):
            return os.environ[variable]
    return None


def _message(exc: Any) -> str:
    """The server's own message out of an ``openai`` status error (its body, not the repr of it)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return " ".join(value.split())
            if isinstance(value, dict) and value.get("message"):
                return " ".join(str(value["message"]).split())
    if isinstance(body, str) and body:
        return " ".join(body.split())[:300]
    return one_line(exc)
