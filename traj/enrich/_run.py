"""Enriching a demonstration: one model call per step, cached as events, failures recorded, never fatal.

Each step's result is appended to ``enrich/<demo>`` as soon as it arrives, so a process
killed mid-way loses nothing it received and a rerun calls only for the rest. The cache key
is (step content hash, model, prompt version): an ``enrichment`` with the same key makes a
call unnecessary, even one recorded for an identical step of another demo (it is copied).
``force`` calls again and the new event supersedes the old one, which stays in the log.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from traj.enrich._answer import MalformedAnswerError, parse_answer
from traj.enrich._client import NIM_BASE_URL, CallFailedError, OpenAIVisionClient, resolve_api_key
from traj.enrich._request import PROMPT_VERSION, StepRequest, reask_text, step_request
from traj.errors import EnrichmentError, one_line
from traj.eventlog import Enrichment, EnrichmentFailed
from traj.projections import Projections, load_demo

if TYPE_CHECKING:
    from traj.eventlog import Store

__all__ = ["DEFAULT_MODEL", "EnrichConfig", "EnrichResult", "StepOutcome", "enrich"]

DEFAULT_MODEL = "meta/llama-3.2-90b-vision-instruct"
_GRACE_S = 2.0
"""How long past the demo's deadline the last calls get to report their own timeout."""


@dataclass(frozen=True)
class EnrichConfig:
    """Which model to ask where, and how hard to try. Checked when made: bad options change nothing."""

    model: str = DEFAULT_MODEL
    """The served vision model's name."""
    base_url: str = NIM_BASE_URL
    """The OpenAI-compatible API's base URL (ending in ``/v1``)."""
    api_key: str | None = None
    """Default: ``$TRAJ_ENRICH_API_KEY``, else ``$NVIDIA_API_KEY`` for NIM; none for a server on this machine."""
    concurrency: int = 4
    """Calls in flight at once."""
    timeout_s: float = 60.0
    """Seconds one request may take."""
    demo_timeout_s: float = 900.0
    """Seconds the whole demo may take; steps unanswered by then fail with ``timeout``."""
    max_retries: int = 2
    """Extra requests after a 408/429/5xx or a refused connection (``Retry-After`` honoured)."""
    max_tokens: int = 800
    """Tokens the model may write per answer."""
    force: bool = False
    """Call again for steps already enriched; the new events supersede the old ones."""

    def __post_init__(self) -> None:
        problems = []
        if not self.model.strip():
            problems.append("the model name is empty")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"base URL {self.base_url!r} is not an http(s) URL")
        if self.concurrency < 1:
            problems.append(f"concurrency must be at least 1, got {self.concurrency}")
        if not self.timeout_s > 0 or not self.demo_timeout_s > 0:
            problems.append("timeouts must be positive")
        if self.max_retries < 0 or self.max_tokens < 1:
            problems.append("max_retries must be >= 0 and max_tokens >= 1")
        if problems:
            raise EnrichmentError("; ".join(problems))


StepStatus = Literal["enriched", "cached", "failed"]


@dataclass(frozen=True)
class StepOutcome:
    """What became of one step: enriched now, already cached, or failed (and why)."""

    action_id: str
    step: int
    status: StepStatus
    reason: str | None = None
    detail: str = ""
    attempts: int = 0


@dataclass(frozen=True)
class EnrichResult:
    """One demo's enrichment run."""

    demo_id: str
    model: str
    prompt_version: str
    steps: list[StepOutcome]
    """Every step of the demo, in step order."""
    calls: int
    """Requests sent to the model (retries and re-asks included); 0 when everything was cached."""

    def count(self, status: StepStatus) -> int:
        return sum(step.status == status for step in self.steps)

    @property
    def failed(self) -> list[StepOutcome]:
        return [step for step in self.steps if step.status == "failed"]


def enrich(
    store: Store,
    demo_id: str,
    config: EnrichConfig | None = None,
    *,
    on_step: Callable[[StepOutcome, int, int], None] | None = None,
) -> EnrichResult:
    """Enrich every step of demo ``demo_id`` that has no enrichment for (its content, model, prompt version).

    Failed steps get an ``enrichment.failed`` event and train on their raw action; this
    function raises only for bad input (no such demo), before anything is written.
    ``on_step(outcome, done, total)`` reports progress as each step is settled.
    """
    config = config or EnrichConfig()
    demo = load_demo(store, demo_id)
    requests = [step_request(demo, index) for index in range(len(demo.steps))]
    stream = f"enrich/{demo_id}"
    outcomes: list[StepOutcome] = []

    def report(settled: list[StepOutcome]) -> None:
        for outcome in settled:
            outcomes.append(outcome)
            if on_step is not None:
                on_step(outcome, len(outcomes), len(requests))

    def settle(payloads: list[Enrichment | EnrichmentFailed], settled: list[StepRequest]) -> None:
        store.append(stream, payloads, expected_seq=None)  # fsynced: what arrived survives a kill
        report([_outcome(request, payload) for request, payload in zip(settled, payloads, strict=True)])

    def result(calls: int = 0) -> EnrichResult:
        return EnrichResult(demo_id, config.model, PROMPT_VERSION, sorted(outcomes, key=lambda o: o.step), calls)

    todo, copies, cached = _plan(store, demo_id, config, requests)
    report([StepOutcome(request.action_id, request.step, "cached") for request in cached])
    if copies:
        settle(list(copies.values()), list(copies))
    if not todo:
        return result()
    key = resolve_api_key(config.base_url, config.api_key)
    if key is None:
        missing = CallFailedError(
            "missing_key", f"no API key for {config.base_url}: set TRAJ_ENRICH_API_KEY (or NVIDIA_API_KEY for NIM)"
        )
        settle([_failed(demo_id, config.model, request, missing) for request in todo], list(todo))
        return result()
    client = OpenAIVisionClient(
        config.model,
        config.base_url,
        key,
        timeout_s=config.timeout_s,
        max_retries=config.max_retries,
        max_tokens=config.max_tokens,
    )
    try:
        _call_all(store, demo_id, config, client, todo, settle)
    finally:
        client.close()
    return result(client.calls)


def _plan(
    store: Store, demo_id: str, config: EnrichConfig, requests: list[StepRequest]
) -> tuple[dict[StepRequest, str | None], dict[StepRequest, Enrichment], list[StepRequest]]:
    """Split the steps: cached, to copy from an identical step, or to call for (with the event it supersedes)."""
    known = _known_enrichments(store, config.model, requests)
    todo: dict[StepRequest, str | None] = {}
    copies: dict[StepRequest, Enrichment] = {}
    cached: list[StepRequest] = []
    for request in requests:
        own = known.get(request.action_id)
        if not config.force and own is not None and own["step_hash"] == request.step_hash:
            cached.append(request)
        elif not config.force and request.step_hash in known:
            copies[request] = _copy(known[request.step_hash], demo_id, config.model, request)
        else:
            todo[request] = own["event_id"] if own is not None else None
    return todo, copies, cached


def _call_all(
    store: Store,
    demo_id: str,
    config: EnrichConfig,
    client: OpenAIVisionClient,
    todo: dict[StepRequest, str | None],
    settle: Callable[[list[Enrichment | EnrichmentFailed], list[StepRequest]], None],
) -> None:
    """Call for every step in ``todo``, ``config.concurrency`` at a time, settling each as it arrives."""
    deadline = time.monotonic() + config.demo_timeout_s
    pool = ThreadPoolExecutor(max_workers=min(config.concurrency, len(todo)), thread_name_prefix="traj-enrich")
    futures = {
        pool.submit(_enrich_step, client, store, demo_id, request, deadline, supersedes): request
        for request, supersedes in todo.items()
    }
    pending = set(futures)
    try:
        while pending:
            budget = max(0.0, deadline - time.monotonic()) + _GRACE_S
            done, pending = wait(pending, timeout=budget, return_when=FIRST_COMPLETED)
            if not done:
                break
            ordered = sorted(done, key=lambda future: futures[future].step)
            settle([future.result() for future in ordered], [futures[future] for future in ordered])
        if pending:
            late = sorted((futures[future] for future in pending), key=lambda request: request.step)
            spent = CallFailedError(
                "timeout", f"the demo's time budget of {config.demo_timeout_s:g} s ran out before this step"
            )
            settle([_failed(demo_id, config.model, request, spent) for request in late], late)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _enrich_step(
    client: OpenAIVisionClient,
    store: Store,
    demo_id: str,
    request: StepRequest,
    deadline: float,
    supersedes: str | None,
) -> Enrichment | EnrichmentFailed:
    """On a worker thread: ask, validate, re-ask once if malformed. Never raises: a failure is a payload."""
    attempts = 0
    try:
        image = request.image(store)
        content: list[dict[str, Any]] = []
        if image is not None:  # first: NIM puts the image before the text anyway
            url = f"data:image/jpeg;base64,{base64.b64encode(image).decode('ascii')}"
            content.append({"type": "image_url", "image_url": {"url": url}})
        content.append({"type": "text", "text": request.text})
        messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
        text, attempts = client.complete(messages, deadline=deadline)
        try:
            answer = parse_answer(text)
        except MalformedAnswerError as first:
            messages += [{"role": "assistant", "content": text}, {"role": "user", "content": reask_text(str(first))}]
            text, more = client.complete(messages, deadline=deadline)
            attempts += more
            try:
                answer = parse_answer(text)
            except MalformedAnswerError as second:
                raise CallFailedError(
                    "malformed", f"asked twice, still malformed: {second}", attempts=attempts
                ) from None
    except CallFailedError as failure:
        failure.attempts = max(failure.attempts, attempts)
        return _failed(demo_id, client.model, request, failure)
    except Exception as exc:  # a broken screenshot blob, a bug: the step falls back, the demo goes on
        return _failed(demo_id, client.model, request, CallFailedError("error", one_line(exc), attempts=attempts))
    return Enrichment(
        demo_id=demo_id,
        action_id=request.action_id,
        step_hash=request.step_hash,
        model=client.model,
        prompt_version=PROMPT_VERSION,
        explanation=answer.explanation,
        element_rationale=answer.element_rationale,
        expected_outcome=answer.expected_outcome,
        thinking_steps=answer.thinking_steps,
        attempts=attempts,
        supersedes=supersedes,
    )


def _known_enrichments(store: Store, model: str, requests: list[StepRequest]) -> dict[str, dict[str, Any]]:
    """The latest valid enrichments for ``model`` and the prompt version, by action id and by step hash."""
    if not requests:
        return {}
    with Projections(store) as projections:
        rows = projections.query(
            "SELECT event_id, action_id, step_hash, explanation, element_rationale, expected_outcome, "
            "CAST(thinking_steps AS VARCHAR[]) AS thinking_steps FROM enrichments "
            "WHERE model = $model AND prompt_version = $version "
            "AND (action_id IN (SELECT unnest($actions)) OR step_hash IN (SELECT unnest($hashes))) "
            "ORDER BY position",
            {
                "model": model,
                "version": PROMPT_VERSION,
                "actions": [r.action_id for r in requests],
                "hashes": [r.step_hash for r in requests],
            },
        ).to_pylist()
    known: dict[str, dict[str, Any]] = {}
    for row in rows:  # in log order: the latest wins
        known[row["action_id"]] = row
        known[row["step_hash"]] = row
    return known


def _copy(row: dict[str, Any], demo_id: str, model: str, request: StepRequest) -> Enrichment:
    """An identical step's enrichment, recorded for this step without a call."""
    return Enrichment(
        demo_id=demo_id,
        action_id=request.action_id,
        step_hash=request.step_hash,
        model=model,
        prompt_version=PROMPT_VERSION,
        explanation=row["explanation"],
        element_rationale=row["element_rationale"],
        expected_outcome=row["expected_outcome"],
        thinking_steps=list(row["thinking_steps"] or []),
        attempts=0,
    )


def _failed(demo_id: str, model: str, request: StepRequest, failure: CallFailedError) -> EnrichmentFailed:
    return EnrichmentFailed(
        demo_id=demo_id,
        action_id=request.action_id,
        step_hash=request.step_hash,
        model=model,
        prompt_version=PROMPT_VERSION,
        reason=failure.reason,
        detail=failure.detail,
        status=failure.status,
        attempts=failure.attempts,
    )


def _outcome(request: StepRequest, payload: Enrichment | EnrichmentFailed) -> StepOutcome:
    if isinstance(payload, EnrichmentFailed):
        return StepOutcome(request.action_id, request.step, "failed", payload.reason, payload.detail, payload.attempts)
    status: StepStatus = "enriched" if payload.attempts else "cached"
    return StepOutcome(request.action_id, request.step, status, attempts=payload.attempts)
