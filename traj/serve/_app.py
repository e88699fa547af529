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
- OpenAI's API under ``/v1/`` (:mod:`traj.serve._openai`): models, chat completions and
  completions, streamed or not, every parameter honoured or refused in OpenAI's error shape.

Every request names its adapter, so one request never inherits another's. All policy work
runs on one worker thread (:mod:`traj.serve._worker`), while ``/health`` answers from the event
loop's pool. A generation asks for at most ``max_new_tokens`` of the server's limits, and the
prompt with it fits the model's context window.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from fastapi import Body, FastAPI, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from traj.errors import one_line
from traj.eventlog import AdapterLoaded, AdapterUnloaded, Store
from traj.policy import Generation, Policy
from traj.prompt import ParseError, Prompt, parse_action
from traj.serve._errors import ApiError, error_body
from traj.serve._gate import RequestGate
from traj.serve._limits import NAME_PATTERN, ServeLimits, Text
from traj.serve._openai import openai_router, served_name
from traj.serve._worker import PolicyWorker, activate, check_limit, check_room, guarded, names

if TYPE_CHECKING:
    from traj.train import ComputeSettings

__all__ = ["create_app"]

log = logging.getLogger("traj.serve")
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


def create_app(
    policy: Policy,
    *,
    token: str | None = None,
    store: Store | None = None,
    model_dir: str | Path | None = None,
    train_backend: str = "torch",
    train_compute: ComputeSettings | None = None,
    limits: ServeLimits | None = None,
    load_trained: bool = False,
    model_name: str | None = None,
) -> FastAPI:
    """A FastAPI app serving ``policy``; with ``token``, every request must carry it as a bearer token.

    With a ``store`` the app also takes uploads and trains on them (one job at a time, with
    ``train_backend`` torch or mlx, over the base model ``model_dir``, default the policy's;
    torch trains where ``train_compute`` says, by default on this machine's GPU when it has
    one, in bfloat16 there), and serves the adapters recorded there. ``limits`` caps bodies,
    uploads, generations and the queue. ``load_trained`` loads each adapter a job trains into the
    policy (e.g. onto a vLLM server) before the run reads as completed, so a client that saw it
    complete can ask for it at once.
    """
    worker = PolicyWorker()
    model_name = model_name or served_name(policy)
    limits = limits or ServeLimits()
    host = socket.gethostname()
    # spooled uploads and built downloads: made when the app starts serving, removed when it stops
    scratch = Path(tempfile.gettempdir()) / f"traj-serve-{uuid.uuid4().hex}"
    jobs = None
    training_placement = _training_placement(train_backend, train_compute) if store is not None else {}

    def load(name: str, source: str | None) -> dict[str, Any]:
        """On the worker thread: load adapter ``name`` from ``source`` (default: the store's) and record it."""
        if name in policy.adapters:
            raise ApiError(409, f"an adapter named {name!r} is already loaded; unload it first or pick another")
        if name == policy.model_id:
            raise ApiError(400, f"{name!r} is the base model's name; pick another adapter name")
        source = source if source is not None else _stored_adapter(store, name, policy.backend)
        guarded(lambda: policy.load_adapter(name, source), status=400)
        log.info("loaded adapter %s from %s", name, source)
        if store is not None:
            store.append(f"adapter/{name}", [AdapterLoaded(name=name, backend=policy.backend, host=host)], None)
        return _adapter_state(policy, name)

    if store is not None:
        from traj.serve._jobs import TrainingQueue

        def load_run(run: Any) -> None:
            worker.submit(load, run.adapter, run.output_model_ref).result()

        jobs = TrainingQueue(store, max_queued=limits.max_queued, on_completed=load_run if load_trained else None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        scratch.mkdir(mode=0o700)
        try:
            yield
        finally:
            worker.stopping.set()
            if jobs is not None:
                jobs.close()
            worker.close()
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
    app.state.stopping = worker.stopping  # set as the server begins to stop (serve_in_thread)
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
            "adapters": guarded(lambda: policy.adapters),
            "context_window": policy.context_window,
            "vision": bool(getattr(policy, "vision", False)),
        }
        if jobs is not None:
            running = jobs.running()
            peaks = [run.peak_memory_bytes for run in jobs.runs.values() if run.peak_memory_bytes is not None]
            answer["training"] = {
                "running": running.run_id if running else None,
                "queued": [run.run_id for run in jobs.queued()],
                "backend": train_backend,
                **training_placement,
                "peak_memory_bytes": max(peaks) if peaks else None,
            }
        return answer

    @app.post("/act")
    async def act(request: ActRequest, http: Request) -> dict[str, Any]:
        screenshot = _decode_screenshot(request.screenshot)
        check_limit(request.max_new_tokens, limits.max_new_tokens, "max_new_tokens", status=422)

        def decide() -> Generation:
            prompt = Prompt(request.prompt, policy.count_tokens(request.prompt), screenshot)
            check_room(prompt.tokens, request.max_new_tokens, policy.context_window, "max_new_tokens", status=422)
            activate(policy, request.adapter)
            return guarded(
                lambda: policy.generate(prompt, max_new_tokens=request.max_new_tokens, temperature=request.temperature)
            )

        generation = await worker.generate(http, lambda emit: decide())
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
        return await worker.call(load, name, request.path if request is not None else None)

    @app.post("/adapters/{name}/unload")
    async def unload_adapter(name: AdapterName) -> dict[str, Any]:
        def unload() -> dict[str, Any]:
            if name not in policy.adapters:
                raise ApiError(404, f"no adapter named {name!r} is loaded (loaded: {names(policy.adapters)})")
            guarded(lambda: policy.unload_adapter(name), status=400)
            log.info("unloaded adapter %s", name)
            if store is not None:
                store.append(f"adapter/{name}", [AdapterUnloaded(name=name, backend=policy.backend, host=host)], None)
            return _adapter_state(policy, name)

        return await worker.call(unload)

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
                train_compute=train_compute,
                placement=training_placement,
                limits=limits,
                jobs=jobs,
                cache_dir=scratch,
            )
        )

    app.include_router(
        openai_router(policy=policy, worker=worker, limits=limits, load=load, store=store, name=model_name)
    )
    return app


def _stored_adapter(store: Store | None, name: str, backend: str) -> str:
    """The directory of adapter ``name`` recorded in ``store``, in the format ``backend`` loads natively."""
    from traj.serve._adapter_files import adapter_records

    formats = adapter_records(store).get(name) if store is not None else None
    if not formats:
        raise ApiError(404, f"no adapter named {name!r} in the server's store; send its path")
    preferred = formats.get("mlx" if backend == "mlx" else "peft") or next(iter(formats.values()))
    return str(preferred["path"])


def _adapter_state(policy: Policy, name: str) -> dict[str, Any]:
    return {"name": name, "adapters": policy.adapters, "active_adapter": policy.active_adapter}


def _decode_screenshot(data: str | None) -> bytes | None:
    if not data:
        return None
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "screenshot is not valid base64") from None


def _training_placement(train_backend: str, compute: ComputeSettings | None) -> dict[str, str]:
    """Where this server's training jobs run, resolved at start: a device that is not there
    stops the server before it listens, not the first job."""
    if train_backend != "torch":
        return {"device": train_backend, "dtype": "float32"}
    from traj.train import ComputeSettings, resolve_placement

    compute = compute or ComputeSettings()
    placement = resolve_placement(compute.device, compute.dtype)
    return {"device": str(placement.device), "dtype": placement.dtype_name}
