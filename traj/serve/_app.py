"""The HTTP face of one policy: traj's own ``/act`` and ``/adapters`` routes, and an OpenAI-compatible API.

Routes (every one behind ``Authorization: Bearer <token>`` when a token is set, the schema and
``/docs`` included, except an anonymous ``/health``, which then answers only ``{"status": "ok"}``
for liveness probes; the token is checked before a byte of the body is read, and a JSON body is
capped by :class:`~traj.serve._limits.ServeLimits`, see :mod:`traj.serve._gate`):

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
worker thread, one call at a time, while ``/health`` answers from the event loop's pool. A
generation asks for at most ``max_new_tokens`` of the server's limits, and the prompt with it
fits the model's context window; it stops at its next token when its client leaves, or when the
server begins to stop (503), so neither a gone client nor a shutdown waits for it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec
from fastapi import Body, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from traj.errors import PolicyError, one_line
from traj.eventlog import AdapterLoaded, AdapterUnloaded, Store
from traj.policy import (
    Generation,
    Policy,
    PolicyAuthError,
    PolicyConnectionError,
    PolicyNotFoundError,
    PolicyRateLimitError,
    PolicyServerError,
    PolicyTimeoutError,
    stopping_when,
)
from traj.prompt import ParseError, Prompt, parse_action
from traj.serve._errors import ApiError, error_body
from traj.serve._gate import RequestGate
from traj.serve._limits import NAME_PATTERN, ServeLimits, Text, unicode_only

__all__ = ["create_app"]

log = logging.getLogger("traj.serve")
T = TypeVar("T")

_DEFAULT_CHAT_TOKENS = 256
AdapterName = Annotated[str, PathParam(pattern=NAME_PATTERN, description="Letters, digits, '.', '_', '-'.")]
_UPLOADS = ("/upload_trajectory", "/datasets/")
"""Routes that stream their bodies to disk under limits of their own (``max_upload_bytes``, ``max_dataset_bytes``)."""


class ActRequest(BaseModel):
    """One decision: the prompt's text, its screenshot, and which adapter answers."""

    prompt: Text = Field(min_length=1)
    screenshot: Text | None = None
    """Base64 PNG; only vision policies look at it."""
    adapter: Text | None = None
    """An adapter loaded on the server; ``null`` is the bare base model."""
    max_new_tokens: int = Field(64, ge=1)
    temperature: float = Field(0.0, ge=0.0)


class LoadRequest(BaseModel):
    path: Text | None = None
    """The adapter's directory on the server's machine; ``null``: the adapter of that name in the store."""


OptionalLoad = Annotated[LoadRequest | None, Body()]


class ChatRequest(BaseModel):
    """The part of OpenAI's chat completion request a policy can honour; other fields are ignored."""

    model_config = ConfigDict(extra="allow")

    model: Text
    messages: Annotated[list[dict[str, Any]], AfterValidator(unicode_only)]
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
    serves the adapters recorded there. ``limits`` caps bodies, uploads, generations and the
    queue. ``load_trained`` loads each adapter a job trains into the policy (e.g. onto a vLLM
    server) before the run reads as completed, so a client that saw it complete can ask for it at once.
    """
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="traj-policy")
    created = int(time.time())
    limits = limits or ServeLimits()
    host = socket.gethostname()
    # spooled uploads and built downloads: made when the app starts serving, removed when it stops
    scratch = Path(tempfile.gettempdir()) / f"traj-serve-{uuid.uuid4().hex}"
    stopping = threading.Event()  # set as the server begins to stop (serve_in_thread) or, at the latest, stops
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

    async def generating(request: Request, generate: Callable[[], T]) -> T:
        """``generate`` on the worker, stopped at its next token if the client leaves or the server stops."""
        gone = threading.Event()

        def run() -> T:
            if not stopping.is_set():
                with stopping_when(gone, stopping):
                    result = generate()
                if not stopping.is_set():
                    return result
            raise ApiError(503, "the server is shutting down; the generation was stopped", code="shutting_down")

        work = asyncio.wrap_future(worker.submit(run))
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

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scratch.mkdir(mode=0o700)
        try:
            yield
        finally:
            stopping.set()
            if jobs is not None:
                jobs.close()
            worker.shutdown(wait=False, cancel_futures=True)
            shutil.rmtree(scratch, ignore_errors=True)

    app = FastAPI(title="traj", lifespan=lifespan)
    app.add_middleware(
        RequestGate,
        token=token,
        max_body_bytes=limits.max_json_bytes,
        open_paths=frozenset({"/health"}),
        own_caps=_UPLOADS,
    )
    app.state.policy = policy
    app.state.token = token
    app.state.jobs = jobs
    app.state.stopping = stopping
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
        return JSONResponse(error_body(request.url.path, exc), status_code=exc.status)

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
    async def act(request: ActRequest, http: Request) -> dict[str, Any]:
        screenshot = _decode_screenshot(request.screenshot)
        _check_limit(request.max_new_tokens, limits.max_new_tokens, "max_new_tokens", status=422)

        def decide() -> Generation:
            prompt = Prompt(request.prompt, policy.count_tokens(request.prompt), screenshot)
            _check_room(prompt, request.max_new_tokens, policy.context_window, "max_new_tokens", status=422)
            return _generate(policy, request.adapter, prompt, request.max_new_tokens, request.temperature)

        generation = await generating(http, decide)
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
    async def chat_completions(request: ChatRequest, http: Request) -> dict[str, Any]:
        if request.stream:
            raise ApiError(400, "streaming is not supported; send stream=false", param="stream")
        if request.n not in (None, 1):
            raise ApiError(400, "only n=1 is supported", param="n")
        text, screenshot = _last_user_message(request.messages, vision=bool(getattr(policy, "vision", False)))
        field = "max_completion_tokens" if request.max_completion_tokens else "max_tokens"
        asked = request.max_completion_tokens or request.max_tokens
        if asked is not None:
            _check_limit(asked, limits.max_new_tokens, field, status=400)
        temperature = 1.0 if request.temperature is None else request.temperature  # OpenAI's default

        def complete() -> tuple[Generation, int]:
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
            prompt = Prompt(text, policy.count_tokens(text), screenshot)
            room = policy.context_window - prompt.tokens
            max_tokens = asked or max(1, min(_DEFAULT_CHAT_TOKENS, limits.max_new_tokens, room))  # OpenAI: the rest
            _check_room(prompt, max_tokens, policy.context_window, field, status=400)
            return _generate(policy, adapter, prompt, max_tokens, temperature), max_tokens

        generation, max_tokens = await generating(http, complete)
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
    policy: Policy, adapter: str | None, prompt: Prompt, max_new_tokens: int, temperature: float
) -> Generation:
    """On the worker thread: activate ``adapter`` (``None``: the base model) and generate."""
    if adapter is not None and adapter not in _guarded(lambda: policy.adapters):
        raise ApiError(404, f"no adapter named {adapter!r} is loaded (loaded: {_names(policy.adapters)})")
    if policy.active_adapter != adapter:
        _guarded(lambda: policy.set_adapter(adapter))
    return _guarded(lambda: policy.generate(prompt, max_new_tokens=max_new_tokens, temperature=temperature))


def _check_limit(tokens: int, limit: int, field: str, *, status: int) -> None:
    """Refuse a generation longer than the server allows: it would hold the one model thread that long."""
    if tokens > limit:
        raise ApiError(status, f"{field}: at most {limit} new tokens on this server (--max-new-tokens)", param=field)


def _check_room(prompt: Prompt, tokens: int, context: int, field: str, *, status: int) -> None:
    """Refuse a generation that would run past the model's context window (positions it never learnt)."""
    if prompt.tokens + tokens > context:
        raise ApiError(
            status,
            f"{field}: the prompt's {prompt.tokens} tokens and {tokens} new ones exceed the model's "
            f"context window of {context} tokens",
            param=field,
        )


async def _client_left(request: Request) -> None:
    """Returns once the client has gone. The body is read by now, so the next message uvicorn has is the disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


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
