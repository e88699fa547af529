"""OpenAI's API over one policy: ``/v1/models`` (and each model), ``/v1/chat/completions``, ``/v1/completions``.

Model ids are stable: the base model is ``<name>`` (its directory's name), an adapter
``<name>:<adapter>``. Every adapter loaded or recorded in the server's store is listed, and
naming one the policy has not loaded loads it from the store first (recorded as ``adapter.loaded``).
A loaded adapter's bare name is still taken, as earlier versions listed it.

Every parameter a route accepts is honoured, or the request is refused with a 400 in OpenAI's
error shape naming it; an unknown parameter is refused too, as OpenAI refuses it:

- ``stream``: server-sent events (``data: {chunk}``), each token's text as it is made, then
  ``data: [DONE]``; the streamed text is the text the same request gets unstreamed. With
  ``logprobs``, the last content chunk carries them all.
- ``stop``: up to 4 strings; the text ends before the first one and the generation stops there.
- system messages, earlier turns, ``top_p``, ``seed``, ``top_logprobs`` and raw text: by a
  :class:`~traj.policy.ChatPolicy` (transformers and mlx through the model's chat template;
  openai and vllm by their server); other backends take one user message, greedy or plainly
  sampled, and are refused the rest.
- ``response_format`` other than text: handed to a policy whose ``constrains_output`` is true
  (openai, vllm: their server constrains decoding or refuses, and its 400 is relayed), else refused.
- refused always: ``n`` > 1, ``tools``/``functions``, penalties, ``logit_bias``, an image part
  for a model that reads none, ``echo``, ``suffix``, ``best_of`` > 1.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from traj.eventlog import Store
from traj.policy import ChatPolicy, Completion, Generation, Policy, stopping_when, streaming_to
from traj.prompt import Prompt
from traj.serve._adapter_files import adapter_records
from traj.serve._errors import ApiError, error_body
from traj.serve._limits import ServeLimits, Text, unicode_only
from traj.serve._openai_text import StopCut, chat_logprobs, conversation, text_logprobs
from traj.serve._worker import Emit, PolicyWorker, activate, check_limit, check_room, guarded, names

__all__ = ["openai_router", "served_name"]

_DEFAULT_CHAT_TOKENS = 256
_Stop = Annotated[str, Field(min_length=1), AfterValidator(unicode_only)]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False
    """A last chunk, before ``[DONE]``, with the request's token usage and no choices."""


class _Request(BaseModel):
    """What chat and text completions share."""

    model_config = ConfigDict(extra="forbid")

    model: Text
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    n: int | None = Field(None, ge=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    stop: _Stop | Annotated[list[_Stop], Field(max_length=4)] | None = None
    seed: int | None = None
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    user: Text | None = None
    """Who asked, for the caller's own records: it changes nothing."""

    @property
    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ChatRequest(_Request):
    """OpenAI's chat completion request, as far as a local model can honour it."""

    messages: Annotated[list[dict[str, Any]], AfterValidator(unicode_only), Field(min_length=1)]
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool | None = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: Any = None
    response_format: dict[str, Any] | None = None


class TextRequest(_Request):
    """OpenAI's (legacy) text completion request: raw text, no chat template."""

    prompt: Text | Annotated[list[Text], Field(min_length=1, max_length=1)]
    max_tokens: int | None = Field(16, ge=1)  # OpenAI's default for this route
    logprobs: int | None = Field(None, ge=0, le=5)
    echo: bool | None = False
    suffix: Text | None = None
    best_of: int | None = Field(None, ge=1)


@dataclass
class _Plan:
    """A checked request, ready for the worker: which adapter, what to complete, how long, where to stop."""

    model: str
    adapter: str | None
    max_tokens: int
    stops: list[str]
    completion: Completion | None = None
    """For a ChatPolicy; otherwise ``prompt`` and ``temperature``."""
    prompt: Prompt | None = None
    temperature: float = 0.0
    top: int = 0
    logprobs: bool = False
    ident: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: int = field(default_factory=lambda: int(time.time()))


def served_name(policy: Policy) -> str:
    """The base model's id in the API: a local model's directory name (not where it lies), else its served name."""
    path = Path(policy.model_id)
    return path.name if path.is_dir() else policy.model_id


def openai_router(
    *,
    policy: Policy,
    worker: PolicyWorker,
    limits: ServeLimits,
    load: Callable[[str, str | None], Any],
    store: Store | None,
    name: str,
) -> APIRouter:
    """The ``/v1`` routes; ``load(adapter, None)`` loads an adapter of the store, on the worker."""
    router = APIRouter(prefix="/v1")
    created = int(time.time())

    def listed() -> list[dict[str, Any]]:
        """On the worker: the base model, then each adapter loaded or in the store."""
        loaded = guarded(lambda: policy.adapters)
        stored = [adapter for adapter in (adapter_records(store) if store else {}) if adapter not in loaded]
        base = {"id": name, "object": "model", "created": created, "owned_by": "traj", "parent": None}
        return [base] + [{**base, "id": f"{name}:{adapter}", "parent": name} for adapter in loaded + stored]

    def resolve(model: str) -> str | None:
        """On the worker: the adapter ``model`` names (``None``: the base), loaded from the store if need be."""
        if model == name:
            return None
        loaded = guarded(lambda: policy.adapters)
        if model in loaded:  # a loaded adapter's bare name, as earlier versions listed it
            return model
        adapter = model.removeprefix(f"{name}:") if model.startswith(f"{name}:") else None
        if adapter and adapter in loaded:
            return adapter
        if adapter and store is not None and adapter in adapter_records(store):
            load(adapter, None)
            return adapter
        served = names([entry["id"] for entry in listed()])
        raise ApiError(
            404, f"The model `{model}` does not exist (served: {served})", code="model_not_found", param="model"
        )

    def prepared(plan: _Plan, asked: int | None, field_name: str, default: int) -> _Plan:
        """On the worker: ``plan`` with its adapter and a length that fits the context window."""
        plan.adapter = resolve(plan.model)
        if plan.completion is not None:
            assert isinstance(policy, ChatPolicy)
            tokens = guarded(lambda: policy.prompt_tokens(plan.completion), status=400)  # type: ignore[arg-type]
        else:
            assert plan.prompt is not None
            plan.prompt = Prompt(plan.prompt.text, policy.count_tokens(plan.prompt.text), plan.prompt.screenshot)
            tokens = plan.prompt.tokens
        room = policy.context_window - tokens
        plan.max_tokens = asked or max(1, min(default, limits.max_new_tokens, room))  # OpenAI: the rest
        check_room(tokens, plan.max_tokens, policy.context_window, field_name, status=400)
        if plan.completion is not None:
            plan.completion = replace(plan.completion, max_new_tokens=plan.max_tokens)
        return plan

    def generate(plan: _Plan, emit: Emit) -> tuple[Generation, StopCut]:
        """On the worker: the generation, its text shown through ``emit`` as it comes, ended at a stop string."""
        cut = StopCut(plan.stops)
        reached = threading.Event()

        def sink(piece: str) -> None:
            emit(cut.feed(piece))
            if cut.stopped:
                reached.set()

        activate(policy, plan.adapter)
        with streaming_to(sink), stopping_when(reached):
            if plan.completion is not None:
                generation = guarded(lambda: policy.complete(plan.completion))  # type: ignore[attr-defined]
            else:
                prompt = plan.prompt
                generation = guarded(
                    lambda: policy.generate(prompt, max_new_tokens=plan.max_tokens, temperature=plan.temperature)
                )
        emit(cut.finish(generation.text))
        return generation, cut

    async def answer(http: Request, plan: _Plan, request: _Request, shape: _Shape) -> Any:
        if not request.stream:
            generation, cut = await worker.generate(http, lambda emit: generate(plan, emit))
            return shape.whole(plan, generation, cut)
        include_usage = bool(request.stream_options and request.stream_options.include_usage)
        return StreamingResponse(
            _events(worker, plan, shape, include_usage, lambda emit: generate(plan, emit)),
            media_type="text/event-stream",
        )

    @router.get("/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": await worker.call(listed)}

    @router.get("/models/{model:path}")
    async def retrieve_model(model: str) -> dict[str, Any]:
        for entry in await worker.call(listed):
            if entry["id"] == model:
                return entry
        raise ApiError(404, f"The model `{model}` does not exist", code="model_not_found", param="model")

    @router.post("/chat/completions")
    async def chat_completions(request: ChatRequest, http: Request) -> Any:
        _refuse_common(request)
        _refuse_chat(request, policy)
        turns, image = conversation(request.messages, images=bool(getattr(policy, "vision", False)))
        top = request.top_logprobs or 0
        if top and not request.logprobs:
            raise ApiError(400, "top_logprobs needs logprobs=true", param="top_logprobs")
        field_name = "max_completion_tokens" if request.max_completion_tokens else "max_tokens"
        asked = request.max_completion_tokens or request.max_tokens
        plan = _plan(policy, request, turns=turns, image=image, raw=None, top=top, logprobs=bool(request.logprobs))
        if _constrained(request) and plan.completion is not None:  # _refuse_chat let it through: the policy's server
            plan.completion = replace(plan.completion, response_format=request.response_format)
        _check_asked(asked, limits, field_name)
        plan = await worker.call(prepared, plan, asked, field_name, _DEFAULT_CHAT_TOKENS)
        return await answer(http, plan, request, _CHAT)

    @router.post("/completions")
    async def completions(request: TextRequest, http: Request) -> Any:
        _refuse_common(request)
        for refused, why in (
            (request.echo, "echo: the prompt is not repeated in the answer; send echo=false"),
            (request.suffix is not None, "suffix: insertion is not supported"),
            ((request.best_of or 1) > 1, "best_of: only 1 is supported"),
        ):
            if refused:
                raise ApiError(400, why, param=why.partition(":")[0])
        raw = request.prompt if isinstance(request.prompt, str) else request.prompt[0]
        top = request.logprobs or 0
        plan = _plan(policy, request, turns=[], image=None, raw=raw, top=top, logprobs=request.logprobs is not None)
        _check_asked(request.max_tokens, limits, "max_tokens")
        plan = await worker.call(prepared, plan, request.max_tokens, "max_tokens", 16)
        return await answer(http, plan, request, _TEXT)

    return router


def _plan(
    policy: Policy,
    request: _Request,
    *,
    turns: list[dict[str, str]],
    image: bytes | None,
    raw: str | None,
    top: int,
    logprobs: bool,
) -> _Plan:
    """The request in the policy's terms, or a 400 naming what this policy cannot honour."""
    temperature = 1.0 if request.temperature is None else request.temperature  # OpenAI's default
    top_p = 1.0 if request.top_p is None else request.top_p
    plan = _Plan(request.model, None, 0, request.stops, temperature=temperature, top=top, logprobs=logprobs)
    if isinstance(policy, ChatPolicy):
        plan.completion = Completion(
            tuple(turns), raw, temperature=temperature, top_p=top_p, seed=request.seed, top_logprobs=top, image=image
        )
        return plan
    backend = policy.backend
    if raw is not None:
        raise ApiError(400, f"the {backend} backend completes chats only; send the text to /v1/chat/completions")
    if len(turns) != 1 or turns[0]["role"] != "user":
        raise ApiError(
            400,
            f"the {backend} backend answers one user message: system messages and earlier turns need a model "
            "this server templates itself (--backend torch or mlx)",
            param="messages",
        )
    sampled = temperature > 0
    for refused, param in ((sampled and top_p < 1.0, "top_p"), (sampled and request.seed is not None, "seed")):
        if refused:
            raise ApiError(400, f"{param}: the {backend} backend cannot honour it; leave it out", param=param)
    if top:
        raise ApiError(400, f"the {backend} backend reports no top alternatives", param="top_logprobs")
    plan.prompt = Prompt(turns[0]["content"], 0, image)
    return plan


def _refuse_common(request: _Request) -> None:
    """400 for what no backend here can do, whichever route."""
    for refused, param, why in (
        ((request.n or 1) > 1, "n", "only n=1 is supported; send the request again for more choices"),
        (bool(request.frequency_penalty), "frequency_penalty", "penalties are not supported"),
        (bool(request.presence_penalty), "presence_penalty", "penalties are not supported"),
        (bool(request.logit_bias), "logit_bias", "logit_bias is not supported"),
        (request.stream_options is not None and not request.stream, "stream_options", "needs stream=true"),
    ):
        if refused:
            raise ApiError(400, f"{param}: {why}", param=param)


def _refuse_chat(request: ChatRequest, policy: Policy) -> None:
    if request.tools or request.functions or request.tool_choice not in (None, "none") or request.function_call:
        raise ApiError(
            400, "this server's models have no tool support; send no tools", param="tools", code="tools_not_supported"
        )
    kind = _constrained(request)
    if kind and not getattr(policy, "constrains_output", False):
        raise ApiError(
            400,
            f"response_format {kind!r}: this server's engine cannot constrain its output; ask for the format "
            "in the prompt and check it",
            param="response_format",
        )


def _constrained(request: ChatRequest) -> str | None:
    """The output format the request wants enforced (``json_object``, ``json_schema``), if any."""
    kind = (request.response_format or {}).get("type", "text")
    return None if kind == "text" else str(kind)


def _check_asked(asked: int | None, limits: ServeLimits, field_name: str) -> None:
    if asked is not None:
        check_limit(asked, limits.max_new_tokens, field_name, status=400)


@dataclass(frozen=True)
class _Shape:
    """How one route writes a choice: as a whole answer and as streamed chunks."""

    whole_object: str
    chunk_object: str
    prefix: str
    text: Callable[[str], dict[str, Any]]
    """The choice's text: ``{"message": ...}`` / ``{"delta": ...}`` for chat, ``{"text": ...}`` for text."""
    delta: Callable[[str], dict[str, Any]]
    logprobs: Callable[[Generation, str, int], dict[str, Any]]
    opening: dict[str, Any] | None
    """The first chunk's choice fields (chat: the assistant's role), or ``None``."""

    def choice(self, plan: _Plan, generation: Generation, cut: StopCut) -> dict[str, Any]:
        """The finishing fields of the only choice: why it ended and its log probabilities."""
        finished = cut.stopped or generation.completion_tokens < plan.max_tokens
        return {
            "index": 0,
            "logprobs": self.logprobs(generation, cut.text, plan.top) if plan.logprobs else None,
            "finish_reason": "stop" if finished else "length",
        }

    def head(self, plan: _Plan, *, chunk: bool) -> dict[str, Any]:
        return {
            "id": f"{self.prefix}-{plan.ident}",
            "object": self.chunk_object if chunk else self.whole_object,
            "created": plan.created,
            "model": plan.model,
        }

    def whole(self, plan: _Plan, generation: Generation, cut: StopCut) -> dict[str, Any]:
        choice = {**self.choice(plan, generation, cut), **self.text(cut.text)}
        return {**self.head(plan, chunk=False), "choices": [choice], "usage": _usage(generation)}


def _usage(generation: Generation) -> dict[str, int]:
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": generation.prompt_tokens + generation.completion_tokens,
    }


_CHAT = _Shape(
    whole_object="chat.completion",
    chunk_object="chat.completion.chunk",
    prefix="chatcmpl",
    text=lambda text: {"message": {"role": "assistant", "content": text}},
    delta=lambda text: {"delta": {"content": text}},
    logprobs=chat_logprobs,
    opening={"delta": {"role": "assistant", "content": ""}},
)
_TEXT = _Shape(
    whole_object="text_completion",
    chunk_object="text_completion",
    prefix="cmpl",
    text=lambda text: {"text": text},
    delta=lambda text: {"text": text},
    logprobs=text_logprobs,
    opening=None,
)


async def _events(
    worker: PolicyWorker,
    plan: _Plan,
    shape: _Shape,
    include_usage: bool,
    generate: Callable[[Emit], tuple[Generation, StopCut]],
) -> AsyncIterator[str]:
    """Server-sent events: each piece of text as a chunk, the finishing chunk, usage if asked, ``[DONE]``.

    An error after the answer began (the adapter was unloaded meanwhile, the server stops)
    comes as one event ``{"error": ...}`` in OpenAI's shape, which its clients raise.
    """
    head = shape.head(plan, chunk=True)

    def chunk(choice: dict[str, Any]) -> str:
        return _event({**head, "choices": [{"index": 0, "logprobs": None, "finish_reason": None, **choice}]})

    if shape.opening is not None:
        yield chunk(shape.opening)
    try:
        async with contextlib.aclosing(worker.stream(generate)) as pieces:
            async for item in pieces:
                if isinstance(item, str):
                    yield chunk(shape.delta(item))
                else:
                    generation, cut = item
    except ApiError as exc:
        yield _event(error_body("/v1/", exc))
        return
    yield chunk({**shape.delta(""), **shape.choice(plan, generation, cut)})
    if include_usage:
        yield _event({**head, "choices": [], "usage": _usage(generation)})
    yield "data: [DONE]\n\n"


def _event(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"
