"""The remote backend: traj's own server over HTTP (/health, /act, /adapters), and its failure paths."""

from __future__ import annotations

import socket
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from traj.errors import PolicyError
from traj.policy import (
    Generation,
    Policy,
    PolicyAuthError,
    PolicyConnectionError,
    PolicyNotFoundError,
    PolicyServerError,
    PolicyTimeoutError,
    RemotePolicy,
    TransformersPolicy,
    open_policy,
)
from traj.prompt import Prompt
from traj.serve import create_app, serve_in_thread

PROMPT = Prompt("You are a browser agent. Goal: book the cheapest flight.\nNext action:", 0)
TOKENS = 12


@pytest.fixture(autouse=True)
def no_server_env(monkeypatch):
    monkeypatch.delenv("TRAJ_SERVER_URL", raising=False)
    monkeypatch.delenv("TRAJ_SERVER_TOKEN", raising=False)


@pytest.fixture(scope="module")
def adapter_dir(model_dir, tmp_path_factory, random_adapter) -> Path:
    return random_adapter(model_dir, tmp_path_factory.mktemp("adapters") / "lora", seed=1, targets=("q_proj", "v_proj"))


@pytest.fixture(scope="module")
def direct(model_dir, adapter_dir) -> dict[str, Generation]:
    """What the model generates called in process: the base and through the adapter."""
    policy = TransformersPolicy(model_dir)
    base = policy.generate(PROMPT, max_new_tokens=TOKENS)
    policy.load_adapter("lora", adapter_dir)
    adapted = policy.generate(PROMPT, max_new_tokens=TOKENS)
    policy.close()
    return {"base": base, "lora": adapted}


@pytest.fixture(scope="module")
def served(model_dir):
    """A bare TransformersPolicy served by traj's app on a free loopback port."""
    policy = TransformersPolicy(model_dir)
    with serve_in_thread(create_app(policy)) as url:
        yield url, policy


class EchoPolicy:
    """A policy that answers with the prompt's last line: the server's parsing seen in isolation."""

    backend = "echo"
    model_id = "echo"
    context_window = 512
    active_adapter = None

    @property
    def adapters(self) -> list[str]:
        return []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        answer = prompt.text.splitlines()[-1]
        return Generation(answer, self.count_tokens(prompt.text), self.count_tokens(answer), 0.001, [-0.5])

    def load_adapter(self, name: str, path: str | Path) -> None:
        raise PolicyError("echo has no adapters")

    def set_adapter(self, name: str | None) -> None:
        if name is not None:
            raise PolicyError("echo has no adapters")

    def unload_adapter(self, name: str) -> None:
        raise PolicyError("echo has no adapters")

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def flaky():
    """A traj-shaped server whose /act misbehaves by the first path segment; counts /act requests per mode."""
    hits: Counter[str] = Counter()
    app = FastAPI()

    @app.get("/{mode}/health")
    def health(mode: str):
        return {"status": "ok", "backend": "fake", "model_id": "m", "adapters": [], "context_window": 512}

    @app.post("/{mode}/act")
    def act(mode: str, request: Request):
        hits[mode] += 1
        if mode == "slow":
            time.sleep(1.5)
        elif mode in ("e500", "e503"):
            return JSONResponse({"detail": "the model crashed"}, status_code=int(mode[1:]))
        elif mode == "limited-once" and hits[mode] == 1:
            return JSONResponse({"detail": "slow down"}, status_code=429, headers={"Retry-After": "1"})
        return {"text": "fine", "prompt_tokens": 3, "completion_tokens": 1, "seconds": 0.0, "token_logprobs": []}

    with serve_in_thread(app) as url:
        yield url, hits


# ---------------------------------------------------------------------------- against traj's server


def test_act_round_trip_equals_direct_generation(served, model_dir, direct):
    url, _ = served
    with RemotePolicy(url) as policy:
        assert isinstance(policy, Policy)
        assert (policy.backend, policy.model_id, policy.context_window) == ("remote", str(model_dir), 2048)
        got = policy.generate(PROMPT, max_new_tokens=TOKENS)
        base = direct["base"]
        assert (got.text, got.token_logprobs) == (base.text, base.token_logprobs)
        assert (got.prompt_tokens, got.completion_tokens) == (base.prompt_tokens, base.completion_tokens)
        assert policy.count_tokens(PROMPT.text) == base.prompt_tokens  # calibrated by the server's count
        assert policy.last_action is None and "no action" in policy.last_parse_error  # an untrained model's noise


def test_act_returns_the_parsed_action_or_why_there_is_none():
    with serve_in_thread(create_app(EchoPolicy())) as url:
        answer = httpx.post(f"{url}/act", json={"prompt": 'Goal: x\n{"kind": "CLICK", "target": "3"}'}).json()
        assert answer["action"] == {"kind": "CLICK", "target": "3", "value": None}
        assert (answer["parse_method"], answer["parse_error"]) == ("json", None)
        answer = httpx.post(f"{url}/act", json={"prompt": "Goal: x\nI like turtles"}).json()
        assert answer["action"] is None and answer["parse_error"].startswith("no action in the output")
        health = httpx.get(f"{url}/health").json()
        assert health == {
            "status": "ok",
            "backend": "echo",
            "model_id": "echo",
            "active_adapter": None,
            "adapters": [],
            "context_window": 512,
            "vision": False,
        }
        bad = httpx.post(f"{url}/act", json={"prompt": "x", "screenshot": "not base64!"})
        assert (bad.status_code, bad.json()["detail"]) == (400, "screenshot is not valid base64")


def test_adapters_load_and_unload_over_http_over_one_base_load(served, adapter_dir, direct):
    url, policy = served
    with RemotePolicy(url) as remote, open_policy("remote", base_url=url) as other:
        remote.load_adapter("lora", adapter_dir)
        assert (policy.adapters, remote.adapters, remote.active_adapter) == (["lora"], ["lora"], "lora")
        assert remote.generate(PROMPT, max_new_tokens=TOKENS).token_logprobs == direct["lora"].token_logprobs

        # every request names its adapter: a client on the base model is not disturbed by one on the adapter
        assert other.active_adapter is None
        assert other.generate(PROMPT, max_new_tokens=TOKENS).token_logprobs == direct["base"].token_logprobs
        assert remote.generate(PROMPT, max_new_tokens=TOKENS).token_logprobs == direct["lora"].token_logprobs
        with open_policy("remote", base_url=url, adapter="lora") as named:
            assert named.active_adapter == "lora"

        with pytest.raises(PolicyError, match="already loaded"):
            remote.load_adapter("lora", adapter_dir)
        with pytest.raises(PolicyError, match="no PEFT adapter at"):
            remote.load_adapter("missing", adapter_dir.parent / "nowhere")
        with pytest.raises(PolicyNotFoundError, match=r"adapter 'nope' is not loaded .*\(loaded: lora\)"):
            remote.set_adapter("nope")

        remote.unload_adapter("lora")
        assert (policy.adapters, remote.active_adapter) == ([], None)
        assert remote.generate(PROMPT, max_new_tokens=TOKENS).token_logprobs == direct["base"].token_logprobs
        with pytest.raises(PolicyNotFoundError, match="no adapter named 'lora' is loaded"):
            remote.unload_adapter("lora")
    assert policy.base_loads == 1


def test_server_token_is_required_when_set(served, monkeypatch):
    _, policy = served
    with serve_in_thread(create_app(policy, token="s3cret")) as url:
        with pytest.raises(PolicyAuthError, match=r"HTTP 401.*TRAJ_SERVER_TOKEN") as caught:
            RemotePolicy(url)  # /health is asked at once: a wrong token fails here
        assert caught.value.status == 401
        assert httpx.get(f"{url}/health").json() == {"status": "ok"}  # liveness only, for probes
        assert httpx.get(f"{url}/health", headers={"Authorization": "Bearer nope"}).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert httpx.post(f"{url}/act", json={"prompt": "x"}, headers=wrong).status_code == 401
        with RemotePolicy(url, api_key="s3cret") as keyed:
            assert keyed.generate(PROMPT, max_new_tokens=2).completion_tokens > 0
        monkeypatch.setenv("TRAJ_SERVER_TOKEN", "s3cret")
        monkeypatch.setenv("TRAJ_SERVER_URL", url)
        with RemotePolicy() as from_env:
            assert from_env.model_id == policy.model_id


def test_no_server_url_is_a_clear_error():
    with pytest.raises(PolicyError, match="TRAJ_SERVER_URL"):
        RemotePolicy()


# ---------------------------------------------------------------------------- failures


def test_slow_generation_times_out_and_is_not_retried(flaky):
    url, hits = flaky
    hits.clear()
    with (
        RemotePolicy(f"{url}/slow", timeout_s=0.5, max_retries=2) as policy,
        pytest.raises(PolicyTimeoutError, match=r"/slow/act did not answer within 0.5 s"),
    ):
        policy.generate(PROMPT, max_new_tokens=4)
    assert hits["slow"] == 1  # the server is still busy with it: asking again would only queue


@pytest.mark.parametrize(("status", "retries"), [(500, 1), (503, 2)])
def test_server_errors_are_retried_then_reported_with_the_status(flaky, status, retries):
    url, hits = flaky
    hits.clear()
    with (
        RemotePolicy(f"{url}/e{status}", max_retries=retries) as policy,
        pytest.raises(PolicyServerError, match=rf"HTTP {status} after {retries + 1} attempts: the model crashed"),
    ):
        policy.generate(PROMPT, max_new_tokens=4)
    assert hits[f"e{status}"] == retries + 1


def test_rate_limit_honours_retry_after_then_succeeds(flaky, monkeypatch):
    url, hits = flaky
    hits.clear()
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)  # the client's waits, recorded instead of slept
    with RemotePolicy(f"{url}/limited-once") as policy:
        assert policy.generate(PROMPT, max_new_tokens=4).text == "fine"
    assert waits == [1.0]  # the server's Retry-After, not the 0.5 s backoff
    assert hits["limited-once"] == 2


def test_closed_port_is_a_connection_error_naming_the_url():
    with socket.socket() as probe:  # a port that was free a moment ago, with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(PolicyConnectionError, match=rf"http://127.0.0.1:{port}/health: connection refused"):
        RemotePolicy(f"http://127.0.0.1:{port}", max_retries=0)
