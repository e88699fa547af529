"""The vllm backend against a real vLLM server (CPU build) on 127.0.0.1, serving traj's tiny model.

The server runs from ``.venv-vllm`` (``bash scripts/setup-vllm.sh``); ``scripts/test.sh`` builds it
and sets ``TRAJ_REQUIRE_VLLM=1``, so in CI a missing environment fails here instead of skipping.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import torch
from typer.testing import CliRunner

from tests.constrained_pages import check_valid, random_page
from traj.cli import app
from traj.errors import PolicyError
from traj.eventlog import Store
from traj.policy import Completion, PolicyConnectionError, TransformersPolicy, VLLMPolicy, open_policy, start_vllm
from traj.policy._vllm import adapter_id, vllm_python
from traj.projections import Projections
from traj.prompt import Prompt, action_response_format, action_schema, action_token_bound, build_prompt, chat_text
from traj.serve import create_app, serve_in_thread
from traj.tiny import init_tiny

PROMPT = Prompt("You are a browser agent. Goal: book the cheapest flight.\nPage: [e1] button 'Search'\nNext action:", 0)
TOKENS = 16
TARGETS = ("q_proj", "v_proj", "o_proj", "down_proj")


@pytest.fixture(scope="module")
def vllm_ready() -> Path:
    python = vllm_python()
    if python.is_file():
        return python
    reason = f"no vLLM environment at {python}; build it with: bash scripts/setup-vllm.sh"
    if os.environ.get("CI") or os.environ.get("TRAJ_REQUIRE_VLLM"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def model_dir() -> Path:
    return init_tiny()


@pytest.fixture(scope="module")
def adapters(model_dir, tmp_path_factory, random_adapter) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    versions = {"v1": (1, 8), "v2": (2, 8), "rank32": (3, 32)}
    return {
        name: random_adapter(model_dir, root / name, seed=seed, rank=rank, targets=TARGETS, std=0.3)
        for name, (seed, rank) in versions.items()
    }


@pytest.fixture(scope="module")
def vllm_url(vllm_ready, model_dir, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with start_vllm(model_dir, max_lora_rank=16, max_model_len=2048, log_path=log, python=vllm_ready) as url:
        yield url


@pytest.fixture(scope="module")
def reference(model_dir, adapters) -> dict[str, object]:
    """traj's transformers backend on the same model: the base and each adapter version, greedy."""
    policy = TransformersPolicy(model_dir)
    answers: dict[str, object] = {"base": policy.generate(PROMPT, max_new_tokens=TOKENS)}
    for version in ("v1", "v2"):
        policy.load_adapter(version, adapters[version])
        answers[version] = policy.generate(PROMPT, max_new_tokens=TOKENS)
        answers[f"{version}_ids"] = _greedy_ids(policy, PROMPT.text)
        policy.unload_adapter(version)
    policy.close()
    return answers


def _greedy_ids(policy: TransformersPolicy, text: str) -> list[int]:
    """The token ids the transformers backend's model picks greedily for ``text``'s chat prompt."""
    encoded = policy.tokenizer(chat_text(policy.tokenizer, text), return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        output = policy._model.generate(
            **encoded, max_new_tokens=TOKENS, do_sample=False, pad_token_id=policy.tokenizer.pad_token_id
        )
    return [int(token) for token in output[0, encoded["input_ids"].shape[1] :]]


def _served_ids(policy: VLLMPolicy, model: str) -> list[int]:
    """The token ids vLLM generates greedily for the same chat prompt, as vLLM itself reports them."""
    response = policy._client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": PROMPT.text}],
        max_tokens=TOKENS,
        temperature=0.0,
        logprobs=True,
        extra_body={"return_tokens_as_token_ids": True, "skip_special_tokens": False},
    )
    return [int(item.token.removeprefix("token_id:")) for item in response.choices[0].logprobs.content]


def _served_models(url: str) -> set[str]:
    return {entry["id"] for entry in httpx.get(f"{url}/models", timeout=30).json()["data"]}


def test_adapter_on_vllm_generates_the_same_tokens_as_the_transformers_backend(
    vllm_url, model_dir, adapters, reference
):
    policy = VLLMPolicy(base_url=vllm_url)
    assert policy.model_id == str(model_dir)
    assert policy.context_window == 2048
    base = policy.generate(PROMPT, max_new_tokens=TOKENS)
    assert base.text == reference["base"].text
    assert base.prompt_tokens == reference["base"].prompt_tokens == policy.count_tokens(PROMPT.text)

    policy.load_adapter("checkout", adapters["v1"])
    served = policy.served_name("checkout")
    assert served == f"checkout-{adapter_id(adapters['v1'])}"
    assert served in _served_models(vllm_url)
    assert policy.active_adapter == "checkout"
    adapted = policy.generate(PROMPT, max_new_tokens=TOKENS)
    assert adapted.text == reference["v1"].text
    assert adapted.text != base.text
    assert _served_ids(policy, served) == reference["v1_ids"]
    assert adapted.token_logprobs == pytest.approx(
        reference["v1"].token_logprobs[: len(adapted.token_logprobs)], abs=1e-3
    )

    policy.set_adapter(None)
    assert policy.generate(PROMPT, max_new_tokens=TOKENS).text == base.text
    policy.unload_adapter("checkout")
    assert served not in _served_models(vllm_url)


def test_a_newer_adapter_version_is_loaded_under_a_new_name_and_the_old_one_unloaded(vllm_url, adapters, reference):
    policy = VLLMPolicy(base_url=vllm_url)
    policy.load_adapter("checkout", adapters["v1"])
    old = policy.served_name("checkout")
    policy.load_adapter("checkout", adapters["v2"])
    new = policy.served_name("checkout")
    assert new != old
    models = _served_models(vllm_url)
    assert new in models and old not in models
    assert policy.adapters == ["checkout"]
    newer = policy.generate(PROMPT, max_new_tokens=TOKENS)
    assert newer.text == reference["v2"].text
    assert _served_ids(policy, new) == reference["v2_ids"]
    assert reference["v2_ids"] != reference["v1_ids"]

    policy.load_adapter("checkout", adapters["v2"])  # the same files again: nothing changes
    assert _served_models(vllm_url) == models
    # another policy (a later process) replacing the version unloads the one this policy loaded
    later = VLLMPolicy(base_url=vllm_url)
    later.load_adapter("checkout", adapters["v1"])
    assert new not in _served_models(vllm_url)
    later.unload_adapter("checkout")


def test_open_policy_loads_the_adapter_as_task_and_id(vllm_url, adapters, reference):
    policy = open_policy("vllm", base_url=vllm_url, adapter=str(adapters["v1"]), task="expenses")
    assert policy.active_adapter == "expenses"
    assert policy.served_name("expenses") == f"expenses-{adapter_id(adapters['v1'])}"
    assert policy.generate(PROMPT, max_new_tokens=TOKENS).text == reference["v1"].text
    policy.unload_adapter("expenses")


def test_traj_serve_delegates_act_and_chat_to_vllm(vllm_url, adapters, reference):
    policy = VLLMPolicy(base_url=vllm_url)
    with serve_in_thread(create_app(policy)) as url, httpx.Client(base_url=url, timeout=120) as http:
        assert http.get("/health").json()["backend"] == "vllm"
        loaded = http.post("/adapters/checkout/load", json={"path": str(adapters["v1"])})
        assert loaded.status_code == 200, loaded.text
        act = http.post("/act", json={"prompt": PROMPT.text, "adapter": "checkout", "max_new_tokens": TOKENS})
        assert act.json()["text"] == reference["v1"].text
        base = http.post("/act", json={"prompt": PROMPT.text, "max_new_tokens": TOKENS})
        assert base.json()["text"] == reference["base"].text
        chat = http.post(
            "/v1/chat/completions",
            json={
                "model": "checkout",
                "messages": [{"role": "user", "content": PROMPT.text}],
                "max_tokens": TOKENS,
                "temperature": 0,
            },
        )
        assert chat.json()["choices"][0]["message"]["content"] == reference["v1"].text
        assert http.post("/adapters/checkout/unload").status_code == 200
    assert not any(name.startswith("checkout-") for name in _served_models(vllm_url))


def test_an_adapter_trained_by_the_server_is_hot_loaded_onto_vllm(vllm_url, model_dir, tmp_path):
    rows = [
        {"prompt": f"Goal: open item {i}\nNext action:", "target": json.dumps({"kind": "CLICK", "target": f"e{i}"})}
        for i in range(4)
    ]
    data = "".join(json.dumps(row) + "\n" for row in rows).encode()
    policy = VLLMPolicy(base_url=vllm_url)
    with Store.open(tmp_path / "home") as store:
        app = create_app(policy, store=store, model_dir=model_dir, load_trained=True)
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as http:
            http.put("/datasets/clicks.jsonl", content=data).raise_for_status()
            job = {"jobId": "job-1", "datasetRef": "clicks.jsonl", "runId": "clicks-1", "steps": 2, "batch_size": 2}
            assert http.post("/train", json=job).status_code == 202
            deadline = time.monotonic() + 300
            while (status := http.get("/status/clicks-1").json())["status"] not in ("completed", "failed"):
                assert time.monotonic() < deadline, status
                time.sleep(0.5)
            assert status["status"] == "completed", status
            assert http.get("/health").json()["adapters"] == ["clicks-1"]
            trained = Path(status["output_model_ref"])
            assert f"clicks-1-{adapter_id(trained)}" in _served_models(vllm_url)
            act = http.post("/act", json={"prompt": PROMPT.text, "adapter": "clicks-1", "max_new_tokens": TOKENS})
            http.post("/adapters/clicks-1/unload").raise_for_status()
    local = TransformersPolicy(model_dir)
    local.load_adapter("clicks-1", trained)
    assert act.json()["text"] == local.generate(PROMPT, max_new_tokens=TOKENS).text


def test_traj_serve_engine_vllm_from_the_command_line(vllm_url, adapters, reference, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "traj", "serve", "--engine", "vllm", "--vllm-url", vllm_url, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, TRAJ_HOME=str(tmp_path / "home"), COLUMNS="200"),
    )
    try:
        line = process.stdout.readline()
        assert "listening on" in line, line + process.stdout.read()
        url = line.split("listening on ")[1].split()[0]
        with httpx.Client(base_url=url, timeout=120) as http:
            assert http.get("/health").json()["backend"] == "vllm"
            http.post("/adapters/cli/load", json={"path": str(adapters["v2"])}).raise_for_status()
            act = http.post("/act", json={"prompt": PROMPT.text, "adapter": "cli", "max_new_tokens": TOKENS})
            assert act.json()["text"] == reference["v2"].text
            http.post("/adapters/cli/unload").raise_for_status()
    finally:
        process.terminate()
        process.wait(30)


def test_traj_run_with_the_vllm_backend_loads_the_adapter_as_the_task(vllm_url, adapters, home):
    args = ["run", "--task", "calendar", "--backend", "vllm", "--base-url", vllm_url]
    args += ["--adapter", str(adapters["v1"]), "--max-steps", "2", "--headless", "--home", str(home)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (0, 1) and "traj query" in result.output, result.output
    served = f"calendar-{adapter_id(adapters['v1'])}"
    assert served in _served_models(vllm_url)
    with Store.open(home, readonly=True) as store, Projections(store) as projections:
        runs = projections.query("SELECT task, backend FROM runs").to_pylist()
        steps = projections.query("SELECT count(*) AS n FROM run_steps").to_pylist()[0]["n"]
    assert runs == [{"task": "calendar", "backend": "vllm"}] and steps >= 1, result.output
    VLLMPolicy(base_url=vllm_url)._lora_call("unload_lora_adapter", {"lora_name": served})


def test_vllm_refusals_are_clear(vllm_url, adapters, tmp_path):
    policy = VLLMPolicy(base_url=vllm_url)
    with pytest.raises(PolicyError, match=r"rank 32: raise the server's --max-lora-rank to at least 32"):
        policy.load_adapter("big", adapters["rank32"])
    assert policy.adapters == [] and policy.active_adapter is None
    with pytest.raises(PolicyError, match="no PEFT adapter"):
        policy.load_adapter("empty", tmp_path)
    with pytest.raises(PolicyError, match="no adapter named 'nope' is loaded"):
        policy.set_adapter("nope")
    with pytest.raises(PolicyError, match="does not serve 'other-model'"):
        VLLMPolicy("other-model", base_url=vllm_url)
    with pytest.raises(PolicyConnectionError, match="cannot connect"):
        VLLMPolicy(base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(PolicyError, match=r"setup-vllm\.sh"), start_vllm(tmp_path, python=tmp_path / "no-python"):
        pass


def test_a_server_without_runtime_lora_updating_is_named_as_the_cause(
    vllm_ready, model_dir, adapters, tmp_path, private_tempdir
):
    with start_vllm(model_dir, runtime_lora=False, log_path=tmp_path / "server.log", python=vllm_ready) as url:
        (scratch,) = private_tempdir.iterdir()
        assert any(entry.is_socket() for entry in scratch.iterdir())  # vLLM's processes talk there
        policy = VLLMPolicy(base_url=url)
        with pytest.raises(PolicyError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"):
            policy.load_adapter("checkout", adapters["v1"])
        assert policy.adapters == []
        assert policy.generate(PROMPT, max_new_tokens=4).completion_tokens > 0
    assert list(private_tempdir.iterdir()) == []  # a stopped server leaves no scratch files behind


def test_traj_serve_hands_openai_parameters_to_vllm_which_constrains_the_output(vllm_url, model_dir):
    """With --engine vllm the whole request reaches vLLM: a system turn, a seed, and a JSON schema it enforces."""
    import openai

    schema = {
        "type": "object",
        "properties": {"answer": {"enum": ["yes", "no"]}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    messages = [{"role": "system", "content": "Answer yes or no."}, {"role": "user", "content": PROMPT.text}]
    with (
        serve_in_thread(create_app(VLLMPolicy(base_url=vllm_url), model_name="tiny")) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client,
    ):
        ask = {"model": "tiny", "messages": messages, "max_tokens": 48, "temperature": 0}
        free = client.chat.completions.create(**ask).choices[0].message.content
        shaped = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
        constrained = client.chat.completions.create(**ask, response_format=shaped).choices[0].message.content
        sampled = {**ask, "temperature": 1.0, "seed": 7}
        first = client.chat.completions.create(**sampled).choices[0].message.content
        again = client.chat.completions.create(**sampled).choices[0].message.content
    # vLLM's grammar admits whitespace between tokens, which the tiny model favours: within 48 tokens
    # the document need not close, but every character is one the schema allows there
    compact = "".join(constrained.split())
    assert compact.startswith('{"answer"') and not free.lstrip().startswith('{"answer"')
    assert any(document.startswith(compact) for document in ('{"answer":"yes"}', '{"answer":"no"}'))
    assert first == again


def test_vllm_decodes_only_actions_valid_on_the_page(vllm_url):
    """The agent's constraint as response_format: vLLM's own guided decoding keeps every output a valid action."""
    policy = VLLMPolicy(base_url=vllm_url)
    rng = random.Random(5)
    for seed in range(6):
        page = random_page(rng)
        schema = action_schema(page.goal, page.elements, page.text)
        prompt = replace(build_prompt(page.goal, page), response_format=action_response_format(schema))
        room = action_token_bound(schema) + 1
        if seed == 0:  # the agent's path: generate() hands the prompt's response_format on
            generation = policy.generate(prompt, max_new_tokens=room)
        else:
            turn = {"role": "user", "content": prompt.text}
            completion = Completion((turn,), max_new_tokens=room, temperature=1.0, seed=seed)
            generation = policy.complete(replace(completion, response_format=prompt.response_format))
        check_valid(generation.text, page)
