"""The openai backend: the official client against traj's own server, and every way a request fails."""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from traj.errors import PolicyError
from traj.policy import (
    OpenAIPolicy,
    Policy,
    PolicyAuthError,
    PolicyConnectionError,
    PolicyNotFoundError,
    PolicyRateLimitError,
    PolicyServerError,
    PolicyTimeoutError,
    TransformersPolicy,
    open_policy,
)
from traj.policy._openai import guess_vision
from traj.prompt import Prompt, approx_tokens
from traj.serve import create_app, serve_in_thread

PROMPT = Prompt("You are a browser agent. Goal: book the cheapest flight.\nNext action:", 0)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))
TOKENS = 12


@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    for variable in ("TRAJ_OPENAI_API_KEY", "OPENAI_API_KEY", "NVIDIA_API_KEY", "TRAJ_OPENAI_BASE_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


@pytest.fixture(scope="module")
def adapter_dir(model_dir, tmp_path_factory, random_adapter) -> Path:
    return random_adapter(model_dir, tmp_path_factory.mktemp("adapters") / "lora", seed=1, targets=("q_proj", "v_proj"))


@pytest.fixture(scope="module")
def direct(model_dir, adapter_dir) -> dict[str, object]:
    """What the model generates called in process: the base and through the adapter."""
    policy = TransformersPolicy(model_dir)
    base = policy.generate(PROMPT, max_new_tokens=TOKENS)
    policy.load_adapter("lora", adapter_dir)
    adapted = policy.generate(PROMPT, max_new_tokens=TOKENS)
    policy.close()
    return {"base": base, "lora": adapted}


@pytest.fixture(scope="module")
def served(model_dir, adapter_dir):
    """A TransformersPolicy with the adapter loaded, served by traj's app on a free loopback port."""
    policy = TransformersPolicy(model_dir)
    policy.load_adapter("lora", adapter_dir)
    policy.set_adapter(None)
    with serve_in_thread(create_app(policy)) as url:
        yield url, policy


@pytest.fixture(scope="module")
def flaky():
    """An OpenAI-shaped server that misbehaves by the first path segment; counts requests per mode."""
    hits: Counter[str] = Counter()
    bodies: list[dict] = []
    app = FastAPI()

    @app.post("/{mode}/v1/chat/completions")
    async def chat(mode: str, request: Request):
        hits[mode] += 1
        bodies.append(await request.json())
        if mode == "slow":
            await asyncio.sleep(2)
        elif mode in ("e500", "e503"):
            return JSONResponse({"error": {"message": "the model crashed"}}, status_code=int(mode[1:]))
        elif mode == "limited-once" and hits[mode] == 1:
            return JSONResponse({"error": {"message": "slow down"}}, status_code=429, headers={"Retry-After": "1"})
        elif mode == "limited":
            return JSONResponse({"error": {"message": "slow down"}}, status_code=429, headers={"Retry-After": "0.1"})
        return _completion("fine", bodies[-1]["model"])

    with serve_in_thread(app) as url:
        yield url, hits, bodies


def _completion(text: str, model: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8},
    }


# ---------------------------------------------------------------------------- against traj's server


def test_openai_client_generates_exactly_what_the_local_model_generates(served, model_dir, direct):
    url, _ = served
    # traj's server names the base model by its directory's name; no key anywhere: loopback needs none
    with OpenAIPolicy(model_dir.name, base_url=f"{url}/v1") as policy:
        assert isinstance(policy, Policy)
        assert policy.count_tokens(PROMPT.text) == approx_tokens(PROMPT.text)  # nothing reported yet
        got = policy.generate(PROMPT, max_new_tokens=TOKENS)
        base = direct["base"]
        assert got.text == base.text
        assert got.token_logprobs == base.token_logprobs  # logprobs=True travelled both ways
        assert (got.prompt_tokens, got.completion_tokens) == (base.prompt_tokens, base.completion_tokens)
        assert policy.count_tokens(PROMPT.text) == base.prompt_tokens  # the server's usage, once known


def test_model_name_selects_the_served_adapter(served, model_dir, direct):
    url, _ = served
    with OpenAIPolicy(model_dir.name, base_url=f"{url}/v1") as policy:
        assert policy.adapters == [f"{model_dir.name}:lora"]  # /v1/models, less the base model
        policy.set_adapter(f"{model_dir.name}:lora")
        adapted = policy.generate(PROMPT, max_new_tokens=TOKENS)
        assert (adapted.text, adapted.token_logprobs) == (direct["lora"].text, direct["lora"].token_logprobs)
        assert adapted.token_logprobs != direct["base"].token_logprobs
        policy.set_adapter(None)
        assert policy.generate(PROMPT, max_new_tokens=TOKENS).token_logprobs == direct["base"].token_logprobs
        with pytest.raises(PolicyError, match=r"set_adapter\('other'\)"):
            policy.load_adapter("other", "/somewhere")


def test_unknown_model_is_a_clear_not_found_error(served):
    url, _ = served
    with (
        OpenAIPolicy("no-such-model", base_url=f"{url}/v1", max_retries=0) as policy,
        pytest.raises(PolicyNotFoundError, match="'no-such-model' not found") as caught,
    ):
        policy.generate(PROMPT, max_new_tokens=4)
    assert caught.value.status == 404
    assert "\n" not in str(caught.value)
    assert "lora" in str(caught.value)  # the server says what it does serve


def test_text_only_server_refuses_the_screenshot_part(served, model_dir):
    url, _ = served
    with (
        OpenAIPolicy(model_dir.name, base_url=f"{url}/v1", vision=True) as policy,
        pytest.raises(PolicyError, match=r"HTTP 400.*reads text only"),
    ):
        policy.generate(Prompt(PROMPT.text, 0, screenshot=PNG), max_new_tokens=TOKENS)


def test_server_token_is_the_api_key(model_dir, served):
    _, policy = served
    with serve_in_thread(create_app(policy, token="s3cret")) as url:
        with (
            open_policy("openai", model_dir.name, base_url=f"{url}/v1") as placeholder,
            pytest.raises(PolicyAuthError, match=r"HTTP 401.*TRAJ_OPENAI_API_KEY") as caught,
        ):
            placeholder.generate(PROMPT, max_new_tokens=2)  # the loopback placeholder key is not the token
        assert caught.value.status == 401
        with OpenAIPolicy(model_dir.name, base_url=f"{url}/v1", api_key="s3cret") as keyed:
            assert keyed.generate(PROMPT, max_new_tokens=2).completion_tokens > 0


# ---------------------------------------------------------------------------- what goes on the wire


def test_vision_models_get_the_screenshot_as_a_png_data_url(flaky):
    url, _, bodies = flaky
    with OpenAIPolicy("meta/llama-3.2-90b-vision-instruct", base_url=f"{url}/ok/v1") as policy:
        assert policy.vision
        policy.generate(Prompt("Goal: x", 0, screenshot=PNG), max_new_tokens=5, temperature=0.5)
    body = bodies[-1]
    assert (body["max_tokens"], body["temperature"], body["logprobs"]) == (5, 0.5, True)
    text, image = body["messages"][0]["content"]
    assert text == {"type": "text", "text": "Goal: x"}
    head, data = image["image_url"]["url"].split(",", 1)
    assert head == "data:image/png;base64"
    assert base64.b64decode(data) == PNG

    with OpenAIPolicy("meta/llama-3.1-8b-instruct", base_url=f"{url}/ok/v1") as text_only:
        assert not text_only.vision
        text_only.generate(Prompt("Goal: x", 0, screenshot=PNG), max_new_tokens=5)
    assert bodies[-1]["messages"] == [{"role": "user", "content": "Goal: x"}]


@pytest.mark.parametrize(
    ("model", "vision"),
    [
        ("meta/llama-3.2-90b-vision-instruct", True),
        ("Qwen/Qwen2.5-VL-7B-Instruct", True),
        ("llava-hf/llava-1.5-7b-hf", True),
        ("gpt-4o-mini", True),
        ("meta/llama-3.1-8b-instruct", False),
        ("google/gemma-2-2b-it", False),
        ("devlin/evolved-7b", False),
    ],
)
def test_vision_is_guessed_from_the_model_name(model, vision):
    assert guess_vision(model) is vision


# ---------------------------------------------------------------------------- failures


def test_slow_server_times_out(flaky):
    url, _, _ = flaky
    with (
        OpenAIPolicy("m", base_url=f"{url}/slow/v1", timeout_s=0.5, max_retries=0) as policy,
        pytest.raises(PolicyTimeoutError, match=r"did not answer within 0.5 s"),
    ):
        policy.generate(PROMPT, max_new_tokens=4)


@pytest.mark.parametrize(("status", "retries"), [(500, 1), (503, 2)])
def test_server_errors_are_retried_then_reported_with_the_status(flaky, status, retries):
    url, hits, _ = flaky
    hits.clear()
    with (
        OpenAIPolicy("m", base_url=f"{url}/e{status}/v1", max_retries=retries) as policy,
        pytest.raises(PolicyServerError, match=rf"HTTP {status} after {retries + 1} attempts: the model crashed"),
    ):
        policy.generate(PROMPT, max_new_tokens=4)
    assert hits[f"e{status}"] == retries + 1


def test_rate_limit_honours_retry_after_then_succeeds(flaky, monkeypatch):
    url, hits, _ = flaky
    hits.clear()
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)  # the client's waits, recorded instead of slept
    with OpenAIPolicy("m", base_url=f"{url}/limited-once/v1", max_retries=2) as policy:
        assert policy.generate(PROMPT, max_new_tokens=4).text == "fine"
    assert waits == [1.0]  # the server's Retry-After, not the 0.5 s backoff
    assert hits["limited-once"] == 2


def test_rate_limit_that_persists_says_so(flaky):
    url, hits, _ = flaky
    hits.clear()
    with (
        OpenAIPolicy("m", base_url=f"{url}/limited/v1", max_retries=1) as policy,
        pytest.raises(PolicyRateLimitError, match=r"rate limiting requests \(HTTP 429\) after 2 attempts"),
    ):
        policy.generate(PROMPT, max_new_tokens=4)
    assert hits["limited"] == 2


def test_closed_port_is_a_connection_error_naming_the_url():
    with socket.socket() as probe:  # a port that was free a moment ago, with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        OpenAIPolicy("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0) as policy,
        pytest.raises(PolicyConnectionError, match=rf"cannot connect to http://127.0.0.1:{port}/v1: .*refused"),
    ):
        policy.generate(PROMPT, max_new_tokens=4)


def test_remote_url_without_a_key_fails_before_any_request(monkeypatch):
    with pytest.raises(PolicyError, match="TRAJ_OPENAI_API_KEY or NVIDIA_API_KEY or OPENAI_API_KEY"):
        OpenAIPolicy("meta/llama-3.1-8b-instruct", base_url="https://integrate.api.nvidia.com/v1")
    with pytest.raises(PolicyError, match=r"no API key for https://vllm.example:8000/v1: .*OPENAI_API_KEY"):
        OpenAIPolicy("m", base_url="https://vllm.example:8000/v1")
    monkeypatch.setenv("NVIDIA_API_KEY", "nvapi-test")
    OpenAIPolicy("meta/llama-3.1-8b-instruct", base_url="https://integrate.api.nvidia.com/v1").close()
