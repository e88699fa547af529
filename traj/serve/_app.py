"""The HTTP face of one policy: traj's own ``/act`` and ``/adapters`` routes, and an OpenAI-compatible API.

Routes (every one behind ``Authorization: Bearer <token>`` when a token is set, except an
anonymous ``/health``, which then answers only ``{"status": "ok"}`` for liveness probes):

- ``GET /health``: status, backend, base model, active adapter, loaded adapters, context window,
  and with a store the training queue.
- ``POST /act``: ``{"prompt", "screenshot" (base64 PNG or null), "adapter" (null: the base
  model), "max_new_tokens", "temperature"}`` -> the generation and the action parsed out of it
  (or why none could be).
- ``POST /adapters/{name}/load`` (``{"path": ...}``, a directory on the server's machine; without
  it, the adapter of that name in the server's store) and ``POST /adapters/{name}/unload``:
  adapters change over the loaded base model, recorded as ``adapter.loaded``/``adapter.unloaded``.
- With a store: uploads, training jobs and adapter downloads (:mod:`traj.serve._training`), and
  ``POST /feedback`` judging a run there as ``traj feedback`` does (:mod:`traj.serve._feedback`).
- ``GET /v1/models`` and ``POST /v1/chat/completions``: the last user message's text through
  the policy, the ``model`` field naming the base model or an adapter. Errors there have
  OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``) so its clients read them.

Every request names its adapter, so one request never inherits another's. Policies are not
thread-safe, and some (mlx) want the same thread every time: all policy work runs on one
worker thread, one call at a time, while ``/health`` answers from the event loop's pool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec
from fastapi import Body, Depends, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from traj.agent import ParseError, Prompt, parse_action
from traj.errors import PolicyError, one_line
from traj.eventlog import AdapterLoaded, AdapterUnloaded, Store
from traj.policy._base import Generation, Policy
from traj.policy._http import (
    PolicyAuthError,
    PolicyConnectionError,
    PolicyNotFoundError,
    PolicyRateLimitError,
    PolicyServerError,
    PolicyTimeoutError,
)
from traj.serve._errors import ApiError
from traj.serve._limits import NAME_PATTERN, ServeLimits

__all__ = ["create_app"]

log = logging.getLogger("traj.serve")
T = TypeVar("T")

_DEFAULT_CHAT_TOKENS = 256
AdapterName = Annotated[str, PathParam(pattern=NAME_PATTERN, description="Letters, digits, '.', '_', '-'.")]
_OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error"}


class ActRequest(BaseModel):
    """One decision: the prompt's text, its screenshot, and which adapter answers."""

    prompt: str = Field(min_length=1)
    screenshot: str | None = None
    """Base64 PNG; only vision policies look at it."""
    adapter: str | None = None
    """An adapter loaded on the server; ``null`` is the bare base model."""
    max_new_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.0, ge=0.0)


class LoadRequest(BaseModel):
    path: str | None = None
    """The adapter's directory on the server's machine; ``null``: the adapter of that name in the store."""


OptionalLoad = Annotated[LoadRequest | None, Body()]


class ChatRequest(BaseModel):
    """The part of OpenAI's chat completion request a policy can honour; other fields are ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0)
    logprobs: bool | None = False
    n: int | None = 1
    stream: bool | None = False


def create_app(
    policy: Policy,
    *,
    token: str | None = None,
    store: Store | None = None,
    model_dir: str | Path | None = None,
    train_backend: str = "torch",
    limits: ServeLimits | None = None,
    load_trained: bool = False,
) -> FastAPI:
    """A FastAPI app serving ``policy``; with ``token``, every request must carry it as a bearer token.

    With a ``store`` the app also takes uploads and trains on them (one job at a time, with
    ``train_backend`` torch or mlx, over the base model ``model_dir``, default the policy's), and
    serves the adapters recorded there. ``limits`` caps uploads and the queue. ``load_trained``
    loads each adapter a job trains into the policy (e.g. onto a vLLM server) before the run
    reads as completed, so a client that saw it complete can ask for it at once.
    """
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="traj-policy")
    created = int(time.time())
    limits = limits or ServeLimits()
    host = socket.gethostname()
    # spooled uploads and built downloads: made when the app starts serving, removed when it stops
    scratch = Path(tempfile.gettempdir()) / f"traj-serve-{uuid.uuid4().hex}"
    jobs = None

    def load(name: str, source: str | None) -> dict[str, Any]:
        """On the worker thread: load adapter ``name`` from ``source`` (default: the store's) and record it."""
        if name in policy.adapters:
            raise ApiError(409, f"an adapter named {name!r} is already loaded; unload it first or pick another")
        if name == policy.model_id:
            raise ApiError(400, f"{name!r} is the base model's name; pick another adapter name")
        source = source if source is not None else _stored_adapter(store, name, policy.backend)
        _guarded(lambda: policy.load_adapter(name, source), status=400)
        log.info("loaded adapter %s from %s", name, source)
        if store is not None:
            store.append(f"adapter/{name}", [AdapterLoaded(name=name, backend=policy.backend, host=host)], None)
        return _adapter_state(policy, name)

    if store is not None:
        from traj.serve._jobs import TrainingQueue

        def load_run(run: Any) -> None:
            worker.submit(load, run.adapter, run.output_model_ref).result()

        jobs = TrainingQueue(store, max_queued=limits.max_queued, on_completed=load_run if load_trained else None)

    async def on_worker(function: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(worker.submit(function, *args))

    async def authorize(request: Request) -> None:
        request.state.authorized = True
        if token is None:
            return
        if request.url.path == "/health" and "authorization" not in request.headers:
            request.state.authorized = False  # liveness only
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(
                401, "missing or wrong bearer token (send Authorization: Bearer <token>)", code="invalid_api_key"
            )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scratch.mkdir(mode=0o700)
        try:
            yield
        finally:
            if jobs is not None:
                jobs.close()
            worker.shutdown(wait=False)
            shutil.rmtree(scratch, ignore_errors=True)

    app = FastAPI(title="traj", dependencies=[Depends(authorize)], lifespan=lifespan)
    app.state.policy = policy
    app.state.token = token
    app.state.jobs = jobs
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's schema, with 422 answers as this app sends them: ``{"detail": "<problems>"}``."""
        if app.openapi_schema is None:
            schema = default_openapi()
            schema.get("components", {}).get("schemas", {})["HTTPValidationError"] = {
                "title": "HTTPValidationError",
                "type": "object",
                "properties": {"detail": {"type": "string"}},
                "required": ["detail"],
            }
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if request.url.path.startswith("/v1/"):
            error_type = _OPENAI_TYPES.get(exc.status, "server_error" if exc.status >= 500 else "invalid_request_error")
            if exc.status == 429:
                error_type = "rate_limit_error"
            body: dict[str, Any] = {
                "error": {"message": exc.message, "type": error_type, "param": exc.param, "code": exc.code}
            }
        else:
            body = {"detail": exc.message}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": f"internal error: {one_line(exc)}"}, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'] if part != 'body')}: {error['msg']}"
            for error in exc.errors()
        )
        if request.url.path.startswith("/v1/"):
            error = {"message": problems, "type": "invalid_request_error", "param": None, "code": None}
            return JSONResponse({"error": error}, status_code=400)
        return JSONResponse({"detail": problems}, status_code=422)

    # ------------------------------------------------------------------ traj's routes

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        if not request.state.authorized:
            return {"status": "ok"}
        answer = {
            "status": "ok",
            "backend": policy.backend,
            "model_id": policy.model_id,
            "active_adapter": policy.active_adapter,
            "adapters": _guarded(lambda: policy.adapters),
            "context_window": policy.context_window,
            "vision": bool(getattr(policy, "vision", False)),
        }
        if jobs is not None:
            running = jobs.running()
            answer["training"] = {
                "running": running.run_id if running else None,
                "queued": [run.run_id for run in jobs.queued()],
            }
        return answer

    @app.post("/act")
    async def act(request: ActRequest) -> dict[str, Any]:
        screenshot = _decode_screenshot(request.screenshot)
        generation = await on_worker(
            _generate, policy, request.adapter, request.prompt, screenshot, request.max_new_tokens, request.temperature
        )
        action: dict[str, Any] | None = None
        parse_method = parse_error = None
        try:
            parsed = parse_action(generation.text)
            action, parse_method = msgspec.to_builtins(parsed.action), parsed.method
        except ParseError as exc:
            parse_error = str(exc)
        return {
            "text": generation.text,
            "prompt_tokens": generation.prompt_tokens,
            "completion_tokens": generation.completion_tokens,
            "seconds": generation.seconds,
            "token_logprobs": generation.token_logprobs,
            "token_texts": generation.token_texts,
            "adapter": request.adapter,
            "action": action,
            "parse_method": parse_method,
            "parse_error": parse_error,
        }

    @app.post("/adapters/{name}/load")
    async def load_adapter(name: AdapterName, request: OptionalLoad = None) -> dict[str, Any]:
        return await on_worker(load, name, request.path if request is not None else None)

    @app.post("/adapters/{name}/unload")
    async def unload_adapter(name: AdapterName) -> dict[str, Any]:
        def unload() -> dict[str, Any]:
            if name not in policy.adapters:
                raise ApiError(404, f"no adapter named {name!r} is loaded (loaded: {_names(policy.adapters)})")
            _guarded(lambda: policy.unload_adapter(name), status=400)
            log.info("unloaded adapter %s", name)
            if store is not None:
                store.append(f"adapter/{name}", [AdapterUnloaded(name=name, backend=policy.backend, host=host)], None)
            return _adapter_state(policy, name)

        return await on_worker(unload)

    if store is not None and jobs is not None:
        from traj.serve._feedback import feedback_router
        from traj.serve._training import training_router

        app.include_router(feedback_router(store=store))
        app.include_router(
            training_router(
                store=store,
                policy=policy,
                model_dir=Path(model_dir or policy.model_id),
                train_backend=train_backend,
                limits=limits,
                jobs=jobs,
                cache_dir=scratch,
            )
        )

    # ------------------------------------------------------------------ OpenAI-compatible routes

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        base = {"id": policy.model_id, "object": "model", "created": created, "owned_by": "traj", "parent": None}
        served = [base] + [
            {"id": name, "object": "model", "created": created, "owned_by": "traj", "parent": policy.model_id}
            for name in _guarded(lambda: policy.adapters)
        ]
        return {"object": "list", "data": served}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: ChatRequest) -> dict[str, Any]:
        if request.stream:
            raise ApiError(400, "streaming is not supported; send stream=false", param="stream")
        if request.n not in (None, 1):
            raise ApiError(400, "only n=1 is supported", param="n")
        text, screenshot = _last_user_message(request.messages, vision=bool(getattr(policy, "vision", False)))
        max_tokens = request.max_completion_tokens or request.max_tokens or _DEFAULT_CHAT_TOKENS
        temperature = 1.0 if request.temperature is None else request.temperature  # OpenAI's default

        def complete() -> Generation:
            if request.model == policy.model_id:
                adapter = None
            elif request.model in policy.adapters:
                adapter = request.model
            else:
                served = _names([policy.model_id, *policy.adapters])
                raise ApiError(
                    404,
                    f"The model `{request.model}` does not exist (served: {served})",
                    code="model_not_found",
                    param="model",
                )
            return _generate(policy, adapter, text, screenshot, max_tokens, temperature)

        generation = await on_worker(complete)
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": generation.text},
            "finish_reason": "length" if generation.completion_tokens >= max_tokens else "stop",
            "logprobs": None,
        }
        if request.logprobs:
            choice["logprobs"] = {
                "content": [
                    {"token": piece, "logprob": logprob, "bytes": list(piece.encode()), "top_logprobs": []}
                    for logprob, piece in zip(
                        generation.token_logprobs,
                        generation.token_texts or [""] * len(generation.token_logprobs),
                        strict=False,
                    )
                ]
            }
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [choice],
            "usage": {
                "prompt_tokens": generation.prompt_tokens,
                "completion_tokens": generation.completion_tokens,
                "total_tokens": generation.prompt_tokens + generation.completion_tokens,
            },
        }

    return app


def _stored_adapter(store: Store | None, name: str, backend: str) -> str:
    """The directory of adapter ``name`` recorded in ``store``, in the format ``backend`` loads natively."""
    from traj.serve._adapter_files import adapter_records

    formats = adapter_records(store).get(name) if store is not None else None
    if not formats:
        raise ApiError(404, f"no adapter named {name!r} in the server's store; send its path")
    preferred = formats.get("mlx" if backend == "mlx" else "peft") or next(iter(formats.values()))
    return str(preferred["path"])


def _generate(
    policy: Policy,
    adapter: str | None,
    text: str,
    screenshot: bytes | None,
    max_new_tokens: int,
    temperature: float,
) -> Generation:
    """On the worker thread: activate ``adapter`` (``None``: the base model) and generate."""
    if adapter is not None and adapter not in _guarded(lambda: policy.adapters):
        raise ApiError(404, f"no adapter named {adapter!r} is loaded (loaded: {_names(policy.adapters)})")
    if policy.active_adapter != adapter:
        _guarded(lambda: policy.set_adapter(adapter))
    prompt = Prompt(text, policy.count_tokens(text), screenshot)
    return _guarded(lambda: policy.generate(prompt, max_new_tokens=max_new_tokens, temperature=temperature))


def _guarded(call: Callable[[], T], *, status: int = 500) -> T:
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
    except PolicyError as exc:
        raise ApiError(status, str(exc)) from None
    except Exception as exc:
        log.exception("policy call failed")
        raise ApiError(500, f"internal error: {one_line(exc)}") from None


def _adapter_state(policy: Policy, name: str) -> dict[str, Any]:
    return {"name": name, "adapters": policy.adapters, "active_adapter": policy.active_adapter}


def _names(names: list[str]) -> str:
    return ", ".join(names) or "none"


def _decode_screenshot(data: str | None) -> bytes | None:
    if not data:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "screenshot is not valid base64") from None


def _last_user_message(messages: list[dict[str, Any]], *, vision: bool) -> tuple[str, bytes | None]:
    """The last user message's text (text parts joined) and, for a vision policy, its first image."""
    message = next((m for m in reversed(messages) if m.get("role") == "user"), None)
    if message is None:
        raise ApiError(400, "messages hold no user message", param="messages")
    content = message.get("content")
    if isinstance(content, str):
        return content, None
    if not isinstance(content, list):
        raise ApiError(400, "a user message's content must be a string or a list of parts", param="messages")
    texts: list[str] = []
    screenshot = None
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url" and vision and screenshot is None:
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, dict) else str(image or "")
            head, _, data = url.partition(",")
            if not (head.startswith("data:") and head.endswith(";base64")):
                raise ApiError(400, "images must be base64 data: URLs (the server fetches nothing)", param="messages")
            screenshot = _decode_screenshot(data)
    return "\n".join(texts), screenshot
