"""Enrichment of a demo recorded in Chromium, against OpenAI-compatible servers on 127.0.0.1.

The well-behaved model is traj's own server (``create_app``) serving a scripted vision
policy; the failure paths are a small FastAPI app that answers 429, 500, slowly or with
garbage; a closed port refuses. Every request goes through the real ``openai`` client and is
counted where it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image
from typer.testing import CliRunner

from traj.browser import record
from traj.cli import app as cli_app
from traj.datasets import sdft_items
from traj.enrich import PROMPT_VERSION, EnrichConfig, enrich, enrichment_coverage
from traj.enrich._request import MAX_IMAGE_SIDE, annotate_screenshot
from traj.errors import EnrichmentError, PolicyError, TrajError
from traj.eventlog import Enrichment, NewEvent, Store
from traj.policy import Completion, Generation
from traj.projections import Projections, load_demo
from traj.prompt import TEACHER_CONTEXT_VERSION, Prompt, TeacherStep, action_json, refer_values, render_teacher_context
from traj.serve import create_app, serve_in_thread
from traj.sites import SITES, run_script

MODEL = "meta/llama-3.2-90b-vision-instruct"
OTHER_MODEL = "other/vision-model"
_ACTION = re.compile(r"^Action taken now: (.*)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("TRAJ_ENRICH_API_KEY", "NVIDIA_API_KEY"):
        monkeypatch.delenv(variable, raising=False)


# ---------------------------------------------------------------- a recorded demo, copied per test


@pytest.fixture(scope="module")
def recorded(sites_server, tmp_path_factory) -> tuple[Path, str]:
    """The expense task demonstrated once in headless Chromium (10 steps, each with a screenshot)."""
    home = tmp_path_factory.mktemp("recorded") / "store"
    with Store.open(home) as store:
        demo = record(
            store,
            SITES["expense"].start_url(sites_server.url, 5),
            task="expense",
            seed=5,
            demonstrator=lambda page: run_script("expense", page, sites_server.url, 5),
            headless=True,
        )
    assert demo.success is True
    return home, demo.demo_id


@pytest.fixture
def demo_home(recorded, tmp_path) -> tuple[Path, str]:
    """A private copy of the recorded store (a store is a directory, safe to copy)."""
    home = tmp_path / "store"
    shutil.copytree(recorded[0], home)
    return home, recorded[1]


@pytest.fixture
def demo_store(demo_home) -> Iterator[tuple[Store, str]]:
    home, demo_id = demo_home
    with Store.open(home) as store:
        yield store, demo_id


# ---------------------------------------------------------------- the models


def well_formed(prompt: Prompt) -> str:
    """A good answer that names the step's action, so each event can be traced to its request."""
    action = _ACTION.search(prompt.text)
    assert action is not None, prompt.text
    return json.dumps(
        {
            "explanation": f"It moves the report forward: {action.group(1)}",
            "element_rationale": "It is the field the goal names, not a look-alike.",
            "expected_outcome": "The form shows the new value.",
            "thinking_steps": ["Read the goal", "Find the field it names", "Act on it"],
        }
    )


class ScriptedVLM:
    """A vision policy for traj's own server that answers from a script (implements ``ChatPolicy``)."""

    backend = "scripted"
    context_window = 32_768
    vision = True

    def __init__(self, answer: Callable[[Prompt], str] = well_formed, *, model_id: str = MODEL) -> None:
        self.model_id = model_id
        self.answer = answer
        self.prompts: list[Prompt] = []
        self._active: str | None = None

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        self.prompts.append(prompt)
        text = self.answer(prompt)
        return Generation(text, self.count_tokens(prompt.text), len(text) // 4, 0.001)

    def prompt_tokens(self, completion: Completion) -> int:
        return sum(self.count_tokens(turn["content"]) for turn in completion.messages)

    def complete(self, completion: Completion) -> Generation:
        """A chat (enrichment asks again with its first answer as an earlier turn): the script sees the last turn."""
        return self.generate(Prompt(completion.messages[-1]["content"], 0, completion.image))

    @property
    def adapters(self) -> list[str]:
        return [OTHER_MODEL]  # a second served model name, so a model change can be asked for

    @property
    def active_adapter(self) -> str | None:
        return self._active

    def load_adapter(self, name: str, path: str | Path) -> None:
        raise PolicyError("a scripted model loads nothing")

    def set_adapter(self, name: str | None) -> None:
        self._active = name

    def unload_adapter(self, name: str) -> None:
        pass

    def close(self) -> None:
        pass


@contextlib.contextmanager
def traj_server(policy: ScriptedVLM, *, token: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """traj's own OpenAI-compatible server for ``policy``; yields its /v1 URL and every request's path."""
    app = create_app(policy, token=token)
    requests: list[str] = []

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Any:
        requests.append(request.url.path)
        return await call_next(request)

    with serve_in_thread(app) as url:
        yield f"{url}/v1", requests


class Loopback:
    """A misbehaving OpenAI-compatible server: per request, an error status, a delay, or a good answer."""

    def __init__(
        self,
        *,
        status: int = 200,
        fail_first: int | None = None,
        retry_after: str | None = None,
        delay_s: float = 0.0,
        hang_after: int | None = None,
    ) -> None:
        self.status = status
        self.fail_first = fail_first
        """Per step: fail this many requests, then answer (None: always fail when status is not 200)."""
        self.retry_after = retry_after
        self.delay_s = delay_s
        self.hang_after = hang_after
        """Answer this many requests at once, then hold every later one until released."""
        self.released = False
        self.times: dict[str, list[float]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests = 0
        self.answered = 0
        """Requests answered so far (an error or a completion)."""
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.chat)

    async def chat(self, request: Request) -> Any:
        body = await request.json()
        text = next(p["text"] for p in body["messages"][0]["content"] if p["type"] == "text")
        step = _ACTION.search(text).group(1)  # type: ignore[union-attr]
        self.requests += 1
        number = self.requests
        self.times.setdefault(step, []).append(time.monotonic())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hang_after is not None and number > self.hang_after:
                while not self.released:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(self.delay_s)
            self.answered += 1
            seen = len(self.times[step])
            if self.status != 200 and (self.fail_first is None or seen <= self.fail_first):
                headers = {"Retry-After": self.retry_after} if self.retry_after else None
                error = {"message": f"scripted {self.status}", "type": "server_error", "param": None, "code": None}
                return JSONResponse({"error": error}, status_code=self.status, headers=headers)
            return completion(well_formed(Prompt(text, 0)), body["model"])
        finally:
            self.in_flight -= 1

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        try:
            with serve_in_thread(self.app) as url:
                yield f"{url}/v1"
                self.released = True
        finally:
            self.released = True


def completion(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    }


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def enrichment_events(store: Store, demo_id: str, kind: str = "enrichment") -> list[Any]:
    return [e for e in store.events(stream=f"enrich/{demo_id}") if e.type == kind]


def examples(store: Store) -> list[dict[str, Any]]:
    with Projections(store) as projections:
        return projections.query(
            "SELECT action_id, context, context_source, context_version, target, goal "
            "FROM sdft_examples ORDER BY position"
        ).to_pylist()


# ---------------------------------------------------------------- one call per step, cached as events


def test_each_step_is_one_request_with_its_outlined_screenshot_and_becomes_an_enrichment_event(demo_store):
    store, demo_id = demo_store
    demo = load_demo(store, demo_id)
    policy = ScriptedVLM()
    with traj_server(policy) as (url, requests):
        result = enrich(store, demo_id, EnrichConfig(base_url=url, concurrency=3))

    assert len(demo.steps) == 10
    assert requests == ["/v1/chat/completions"] * 10  # one call per step, counted by the server
    assert result.calls == 10 and result.count("enriched") == 10 and not result.failed
    events = enrichment_events(store, demo_id)
    assert sorted(e.data.action_id for e in events) == sorted(s.action_id for s in demo.steps)
    by_action = {e.data.action_id: e.data for e in events}
    for step in demo.steps:
        got = by_action[step.action_id]
        assert (got.model, got.prompt_version, got.attempts) == (MODEL, PROMPT_VERSION, 1)
        assert got.explanation == f"It moves the report forward: {action_json(step.action)}"
        assert got.thinking_steps == ["Read the goal", "Find the field it names", "Act on it"]
    assert len({e.data.step_hash for e in events}) == 10

    # What the model saw: the goal, the action, look-alikes, and the screenshot with the element outlined.
    typed = next(s for s in demo.steps if s.action.kind == "TYPE")
    # the request for that step (its action also shows in later steps' history, and requests run concurrently)
    prompt = next(p for p in policy.prompts if f"Action taken now: {action_json(typed.action)}\n" in p.text)
    assert f"Goal: {demo.started.goal}" in prompt.text and "Look-alike elements" in prompt.text
    image = Image.open(io.BytesIO(prompt.screenshot or b"")).convert("RGB")
    assert max(image.size) <= MAX_IMAGE_SIDE
    box = typed.target.bbox  # type: ignore[union-attr]
    scale = image.width / 1280
    row = round((box.y - 2 + 1) * scale)
    left, right = round((box.x + box.width * 0.25) * scale), round((box.x + box.width * 0.75) * scale)
    pixels = [image.getpixel((x, row)) for x in range(left, right)]
    red = sum(r > 170 and g < 90 and b < 90 for r, g, b in pixels)  # type: ignore[misc]
    assert red > 0.8 * len(pixels), pixels[:5]


def test_a_second_run_makes_no_request(demo_store):
    store, demo_id = demo_store
    with traj_server(ScriptedVLM()) as (url, requests):
        enrich(store, demo_id, EnrichConfig(base_url=url))
        before = len(store.events(stream=f"enrich/{demo_id}"))
        again = enrich(store, demo_id, EnrichConfig(base_url=url))
    assert len(requests) == 10
    assert again.calls == 0 and again.count("cached") == 10
    assert len(store.events(stream=f"enrich/{demo_id}")) == before  # nothing new in the log either


def test_a_new_model_or_prompt_version_enriches_again(demo_store):
    store, demo_id = demo_store
    demo = load_demo(store, demo_id)
    # Enrichments under an older prompt version are not a cache hit for the current one.
    store.append(
        f"enrich/{demo_id}",
        [
            Enrichment(
                demo_id=demo_id,
                action_id=s.action_id,
                step_hash="old",
                model=MODEL,
                prompt_version="0",
                explanation="old prompt",
                element_rationale="old",
                expected_outcome="old",
            )
            for s in demo.steps
        ],
        expected_seq=0,
    )
    with traj_server(ScriptedVLM()) as (url, requests):
        first = enrich(store, demo_id, EnrichConfig(base_url=url))
        assert (first.calls, len(requests)) == (10, 10)
        other = enrich(store, demo_id, EnrichConfig(base_url=url, model=OTHER_MODEL))
        assert (other.calls, len(requests)) == (10, 20)
        enrich(store, demo_id, EnrichConfig(base_url=url, model=OTHER_MODEL))
        assert len(requests) == 20
    models = {(e.data.model, e.data.prompt_version) for e in enrichment_events(store, demo_id)}
    assert models == {(MODEL, "0"), (MODEL, PROMPT_VERSION), (OTHER_MODEL, PROMPT_VERSION)}


def test_an_identical_step_in_another_demo_is_copied_without_a_request(demo_store, tmp_path):
    store, demo_id = demo_store
    with traj_server(ScriptedVLM()) as (url, requests):
        enrich(store, demo_id, EnrichConfig(base_url=url))
        # The same demonstration under another id: same content, so the same step hashes.
        twin = "twin"
        events = store.events(stream=f"demo/{demo_id}")
        copies: list[NewEvent] = []
        ids: dict[str, str] = {}
        for event in events:
            data = event.data
            if event.type == "demo.started":
                data = msgspec.structs.replace(data, demo_id=twin)
            elif event.type == "action":
                data = msgspec.structs.replace(data, observation_id=ids[data.observation_id])
            copy = NewEvent(data=data, blobs=tuple(event.blobs))
            ids[event.event_id] = copy.event_id
            copies.append(copy)
        store.append(f"demo/{twin}", copies, expected_seq=0)
        result = enrich(store, twin, EnrichConfig(base_url=url))
    assert len(requests) == 10 and result.calls == 0 and result.count("cached") == 10
    assert len(enrichment_events(store, twin)) == 10
    assert all(r["context_source"] == "enrichment" for r in examples(store))


def test_force_supersedes_and_the_old_events_stay(demo_home):
    home, demo_id = demo_home
    with Store.open(home) as store, traj_server(ScriptedVLM()) as (url, requests):
        enrich(store, demo_id, EnrichConfig(base_url=url))
        old = {e.data.action_id: e.event_id for e in enrichment_events(store, demo_id)}
        forced = enrich(store, demo_id, EnrichConfig(base_url=url, force=True))
        events = enrichment_events(store, demo_id)
    assert forced.calls == 10 and len(requests) == 20
    assert len(events) == 20 and {e.event_id for e in events} >= set(old.values())
    new = {e.data.action_id: e for e in events if e.event_id not in old.values()}
    assert {a: e.data.supersedes for a, e in new.items()} == old

    # `traj query` over enrichments: the latest valid enrichment per step, the superseded one hidden.
    sql = "SELECT action_id, event_id FROM enrichments ORDER BY action_id"
    out = CliRunner().invoke(cli_app, ["query", sql, "--home", str(home), "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert {r["action_id"]: r["event_id"] for r in rows} == {a: e.event_id for a, e in new.items()}
    out = CliRunner().invoke(cli_app, ["query", "SELECT count(*) AS n FROM enrichment_attempts", "--home", str(home)])
    assert re.search(r"\b20\b", out.stdout), out.stdout


def test_a_later_failure_does_not_hide_the_valid_enrichment(demo_store):
    store, demo_id = demo_store
    with traj_server(ScriptedVLM()) as (url, _):
        enrich(store, demo_id, EnrichConfig(base_url=url))
    enrich(store, demo_id, EnrichConfig(base_url=closed_port_url(), force=True, max_retries=0))
    assert len(enrichment_events(store, demo_id, "enrichment.failed")) == 10
    assert all(r["context_source"] == "enrichment" for r in examples(store))
    assert all(c.complete for c in enrichment_coverage(store, [demo_id]).values())


# ---------------------------------------------------------------- malformed output


def test_malformed_output_is_repaired_or_asked_again_once(demo_store):
    store, demo_id = demo_store
    demo = load_demo(store, demo_id)
    fenced, reasked, hopeless = (f"Action taken now: {action_json(demo.steps[i].action)}\n" for i in (0, 1, 2))

    def answer(prompt: Prompt) -> str:
        if prompt.text.startswith("Your answer could not be used"):  # the re-ask; one call at a time
            original = policy.prompts[-2]
            return "still not JSON" if hopeless in original.text else well_formed(original)
        good = well_formed(prompt)
        if fenced in prompt.text:
            return f"Here you go:\n```json\n{good}\n```"
        if reasked in prompt.text:
            return "I think the user clicks the button."
        if hopeless in prompt.text:
            return "Sorry, I cannot help with that."
        steps = json.loads(good)
        steps["thinking_steps"] = "1. Read the goal\n2. Act on it"  # one string: split into steps
        return json.dumps(steps)

    policy = ScriptedVLM(answer)
    with traj_server(policy) as (url, requests):
        result = enrich(store, demo_id, EnrichConfig(base_url=url, concurrency=1))
    outcomes = {o.step: o for o in result.steps}
    assert len(requests) == 10 + 2  # one re-ask each for the two unparseable answers
    assert (outcomes[0].status, outcomes[0].attempts) == ("enriched", 1)
    assert (outcomes[1].status, outcomes[1].attempts) == ("enriched", 2)
    assert (outcomes[2].status, outcomes[2].reason, outcomes[2].attempts) == ("failed", "malformed", 2)
    assert "asked twice" in outcomes[2].detail
    enriched = {e.data.action_id: e.data for e in enrichment_events(store, demo_id)}
    assert enriched[demo.steps[3].action_id].thinking_steps == ["Read the goal", "Act on it"]
    assert demo.steps[2].action_id not in enriched


# ---------------------------------------------------------------- failure paths


def test_retry_after_is_honoured_and_the_step_then_succeeds(demo_store):
    store, demo_id = demo_store
    server = Loopback(status=429, fail_first=1, retry_after="1")
    with server.serve() as url:
        result = enrich(store, demo_id, EnrichConfig(base_url=url, concurrency=10))
    assert result.count("enriched") == 10 and server.requests == 20
    gaps = [times[1] - times[0] for times in server.times.values()]
    assert min(gaps) >= 0.95, gaps  # the server's Retry-After, not the 0.5 s default backoff
    assert {e.data.attempts for e in enrichment_events(store, demo_id)} == {2}


FAILURES = {
    "rate limited": (
        lambda: Loopback(status=429, retry_after="0.1"),
        {"max_retries": 1},
        "rate_limited",
        429,
        2,
        "HTTP 429",
    ),
    "server error": (lambda: Loopback(status=500), {"max_retries": 1}, "server_error", 500, 2, "HTTP 500"),
    "per-call timeout": (
        lambda: Loopback(hang_after=0),
        {"timeout_s": 0.5, "concurrency": 10},
        "timeout",
        None,
        1,
        "per call",
    ),
    "demo timeout": (
        lambda: Loopback(hang_after=0),
        {"timeout_s": 30, "demo_timeout_s": 0.7, "concurrency": 4},
        "timeout",
        None,
        None,
        "time budget",
    ),
    "connection refused": (None, {"max_retries": 1}, "connection", None, 2, "refused"),
}


@pytest.mark.parametrize("mode", list(FAILURES))
def test_every_failure_ends_in_enrichment_failed_and_the_raw_action_teaches(demo_store, mode):
    store, demo_id = demo_store
    make, options, reason, status, attempts, needle = FAILURES[mode]
    server = make() if make else None
    with server.serve() if server else contextlib.nullcontext(closed_port_url()) as url:
        result = enrich(store, demo_id, EnrichConfig(base_url=url, **options))
        answered = server.answered if server else 0  # the timeout servers answer only once released, below

    failed = enrichment_events(store, demo_id, "enrichment.failed")
    assert len(failed) == 10 and not enrichment_events(store, demo_id)
    assert {(e.data.reason, e.data.status, e.v) for e in failed} == {(reason, status, 2)}
    if attempts is not None:
        assert {e.data.attempts for e in failed} == {attempts}
    assert all(needle in e.data.detail for e in failed), failed[0].data.detail
    assert result.count("failed") == 10
    if mode.endswith("timeout"):
        assert answered == 0  # enrich gave up before any answer: neither the server nor the queue held the demo
    # Training goes on: every step's teacher context is the raw action, and says why.
    rows = examples(store)
    assert {r["context_source"] for r in rows} == {"raw_action"}
    assert all(refer_values(r["target"], r["goal"]) in r["context"] and "Why:" not in r["context"] for r in rows)
    coverage = enrichment_coverage(store, [demo_id])[demo_id]
    assert coverage.share == 0 and coverage.describe() == f"0/10 steps enriched; raw action for 10 ({reason}: 10)"


def test_no_key_for_a_remote_endpoint_fails_every_step_without_a_request(demo_store):
    store, demo_id = demo_store
    result = enrich(store, demo_id, EnrichConfig())  # NIM's hosted API, no key in the environment
    assert result.calls == 0
    failed = enrichment_events(store, demo_id, "enrichment.failed")
    assert {(e.data.reason, e.data.attempts) for e in failed} == {("missing_key", 0)} and len(failed) == 10
    assert "NVIDIA_API_KEY" in failed[0].data.detail
    assert {r["context_source"] for r in examples(store)} == {"raw_action"}


def test_a_refused_key_is_an_auth_failure(demo_store, monkeypatch):
    store, demo_id = demo_store
    monkeypatch.setenv("TRAJ_ENRICH_API_KEY", "wrong")
    with traj_server(ScriptedVLM(), token="right") as (url, requests):
        enrich(store, demo_id, EnrichConfig(base_url=url))
    failed = enrichment_events(store, demo_id, "enrichment.failed")
    assert {(e.data.reason, e.data.status) for e in failed} == {("auth", 401)}
    assert len(requests) == 10  # not retried: the key will not get better
    monkeypatch.setenv("TRAJ_ENRICH_API_KEY", "right")
    with traj_server(ScriptedVLM(), token="right") as (url, _):
        assert enrich(store, demo_id, EnrichConfig(base_url=url)).count("enriched") == 10


def test_concurrency_is_bounded_and_calls_overlap(demo_store):
    store, demo_id = demo_store
    server = Loopback(delay_s=0.3)
    with server.serve() as url:
        enrich(store, demo_id, EnrichConfig(base_url=url, concurrency=3))
    assert server.max_in_flight == 3 and server.requests == 10  # three at a time, never more


# ---------------------------------------------------------------- the teacher context


def test_the_teacher_context_is_versioned_and_falls_back_to_the_raw_action():
    steps = [
        TeacherStep(
            action='{"kind":"CLICK","target":"3","value":null}',
            explanation="It opens the form.",
            element_rationale="The only New button.",
            expected_outcome="A form appears.",
            thinking_steps=["Find New", "Click it"],
        ),
        TeacherStep(action='{"kind":"TYPE","target":"5","value":"42"}'),
    ]
    assert render_teacher_context("File 42", steps) == (
        "Demonstration of: File 42\n"
        'Step 1: {"kind":"CLICK","target":"3","value":null}\n'
        "   Why: It opens the form.\n"
        "   Element: The only New button.\n"
        "   Expected outcome: A form appears.\n"
        "   Thinking: Find New / Click it\n"
        'Step 2: {"kind":"TYPE","target":"5","value":"$1"}'  # the goal's value 42, as its reference
    )
    assert TEACHER_CONTEXT_VERSION == "4"


def test_the_feed_and_the_projection_give_the_teacher_the_same_enriched_context(demo_store):
    store, demo_id = demo_store
    with traj_server(ScriptedVLM()) as (url, _):
        enrich(store, demo_id, EnrichConfig(base_url=url))
    rows = {r["action_id"]: r for r in examples(store)}
    *items, finish = sdft_items(store, verified_only=False)
    assert len(items) == len(rows) == 10
    assert (finish.context, finish.context_source) == (items[0].context, "raw_action"), "the FINISH no model explained"
    for item in items:
        row = rows[item.action_id]
        assert item.context == row["context"] and item.context_source == row["context_source"] == "enrichment"
        assert row["context_version"] == TEACHER_CONTEXT_VERSION
        assert item.context.count("   Why: It moves the report forward") == 10
        assert item.context in item.teacher_query and "Why:" not in item.query


def test_coverage_names_the_steps_the_teacher_sees_unexplained(demo_store):
    store, demo_id = demo_store
    demo = load_demo(store, demo_id)
    hopeless = f"Action taken now: {action_json(demo.steps[4].action)}\n"
    unusable = (hopeless, "Your answer could not be used")  # the step, and the re-ask it gets
    with traj_server(
        ScriptedVLM(lambda p: "no" if p.text.startswith(unusable) or hopeless in p.text else well_formed(p))
    ) as (url, _):
        enrich(store, demo_id, EnrichConfig(base_url=url))
    coverage = enrichment_coverage(store)[demo_id]
    assert coverage.share == 0.9 and not coverage.complete
    [missing] = [s for s in coverage.steps if not s.enriched]
    assert (missing.action_id, missing.failure) == (demo.steps[4].action_id, "malformed")
    assert coverage.describe() == "9/10 steps enriched; raw action for 1 (malformed: 1)"


# ---------------------------------------------------------------- images


def test_a_large_screenshot_is_shrunk_to_the_model_limits():
    import random

    rng = random.Random(0)
    noise = Image.frombytes("RGB", (2400, 1600), bytes(rng.getrandbits(8) for _ in range(2400 * 1600 * 3)))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    jpeg = annotate_screenshot(buffer.getvalue(), None, max_base64=60_000)
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == "JPEG" and max(image.size) <= MAX_IMAGE_SIDE
    assert len(jpeg) * 4 / 3 <= 60_000 + 4


# ---------------------------------------------------------------- bad input changes nothing


def test_bad_input_changes_nothing(demo_home, tree_bytes):
    home, demo_id = demo_home
    before = tree_bytes(home)
    with Store.open(home) as store, pytest.raises(TrajError, match="no demonstration 'nope'"):
        enrich(store, "nope", EnrichConfig(base_url=closed_port_url()))
    for options in ({"concurrency": 0}, {"base_url": "ftp://x"}, {"timeout_s": 0}, {"model": " "}):
        with pytest.raises(EnrichmentError):
            EnrichConfig(**options)
    runner = CliRunner()
    for args in (["nope"], [demo_id, "nope"], [demo_id, "--concurrency", "0"]):
        out = runner.invoke(cli_app, ["enrich", *args, "--home", str(home), "--base-url", closed_port_url()])
        assert out.exit_code in (1, 2), out.output
    assert "no demonstration 'nope'" in runner.invoke(cli_app, ["enrich", demo_id, "nope", "--home", str(home)]).stderr
    missing = home.parent / "missing"
    out = runner.invoke(cli_app, ["enrich", demo_id, "--home", str(missing)])
    assert out.exit_code == 1 and not missing.exists()
    assert tree_bytes(home) == before


# ---------------------------------------------------------------- the command line


def test_cli_enriches_with_a_progress_bar_then_calls_nothing_the_second_time(demo_home):
    home, demo_id = demo_home
    runner = CliRunner()
    with traj_server(ScriptedVLM()) as (url, requests):
        args = ["enrich", demo_id, "--base-url", url, "--concurrency", "2", "--home", str(home)]
        first = runner.invoke(cli_app, args)
        second = runner.invoke(cli_app, args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert re.search(r"enrich \S+ .*10/10", first.stdout), first.stdout  # the rich progress bar
    assert f"{demo_id}: 10 enriched, 0 cached, 0 failed; 10 requests to {MODEL}" in first.stdout
    assert f"{demo_id}: 0 enriched, 10 cached, 0 failed; 0 requests" in second.stdout
    assert "teacher context: 10/10 steps enriched" in second.stdout
    assert len(requests) == 10


def test_cli_without_a_key_records_why_and_exits_zero(demo_home):
    home, demo_id = demo_home
    out = CliRunner().invoke(cli_app, ["enrich", demo_id, "--home", str(home)])
    assert out.exit_code == 0, out.output
    assert "missing_key" in out.stderr and "TRAJ_ENRICH_API_KEY" in out.stderr
    assert "raw action for 10 (missing_key: 10)" in out.stdout


def test_a_killed_enrichment_keeps_what_arrived_and_a_rerun_completes_the_rest(demo_home):
    home, demo_id = demo_home
    server = Loopback(hang_after=4)
    with server.serve() as url:
        command = [sys.executable, "-c", "from traj.cli import app; app()", "enrich", demo_id]
        process = subprocess.Popen(
            [*command, "--base-url", url, "--concurrency", "2", "--home", str(home)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with Store.open(home, readonly=True) as reader:
                    if len(reader.events(stream=f"enrich/{demo_id}")) >= 4:
                        break
                assert process.poll() is None, "the enrichment ended before it was killed"
                time.sleep(0.05)
            while server.in_flight < 2 and time.monotonic() < deadline:  # mid-way: two calls waiting
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
    assert server.requests == 6
    with Store.open(home) as store:
        kept = {e.event_id for e in enrichment_events(store, demo_id)}
        assert len(kept) == 4  # what arrived before the kill is in the log
        policy = ScriptedVLM()
        with traj_server(policy) as (url, requests):
            result = enrich(store, demo_id, EnrichConfig(base_url=url))
        assert len(requests) == 6 and result.count("cached") == 4 and result.count("enriched") == 6
        assert {e.event_id for e in enrichment_events(store, demo_id)} >= kept
        assert enrichment_coverage(store, [demo_id])[demo_id].complete


def test_projections_import_the_teacher_context_without_the_heavy_parts_of_enrichment():
    # Every Projections connection installs the teacher-context SQL function from traj.enrich:
    # the openai client and Pillow load only when a demo is enriched.
    code = (
        "import sys; from traj.eventlog import Store; from traj.projections import Projections; import tempfile\n"
        "with tempfile.TemporaryDirectory() as d, Store.open(d) as s, Projections(s) as p:\n"
        "    p.query('SELECT count(*) FROM sdft_examples')\n"
        "print('openai' in sys.modules, 'PIL' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_v1_enrichment_failure_stays_readable_beside_v2(demo_store):
    store, demo_id = demo_store
    action_id = load_demo(store, demo_id).steps[0].action_id
    old = {"demo_id": demo_id, "action_id": action_id, "step_hash": "h", "model": MODEL, "prompt_version": "0"}
    store.append(
        f"enrich/{demo_id}", [NewEvent.parse("enrichment.failed", old | {"reason": "http_error"}, v=1)], expected_seq=0
    )
    enrich(store, demo_id, EnrichConfig())  # no key: v2 failures
    events = store.events(stream=f"enrich/{demo_id}")
    assert [(e.v, type(e.data).__name__) for e in events[:2]] == [(1, "EnrichmentFailedV1"), (2, "EnrichmentFailed")]
    with Projections(store) as projections:
        reasons = projections.query("SELECT failure_reason FROM enrichment_attempts ORDER BY position")
    assert reasons["failure_reason"].to_pylist() == ["http_error"] + ["missing_key"] * 10
