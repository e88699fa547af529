"""The mlx backend: generation, and LoRA adapters hot-swapped over one base loaded once."""

from __future__ import annotations

import threading
from pathlib import Path

import mlx_lm
import numpy as np
import pytest

from traj.errors import PolicyError
from traj.policy import MlxPolicy, Policy, TransformersPolicy, open_policy, peft_to_mlx
from traj.prompt import Prompt

PROMPT = Prompt("You are a browser agent. Goal: book the cheapest flight.\nNext action:", 0)
TEXT = "Goal: open item 3\nNext action: click e3"
TARGETS = ("q_proj", "v_proj", "o_proj", "up_proj", "down_proj")


@pytest.fixture(scope="module")
def adapters(model_dir, tmp_path_factory, random_adapter) -> dict[str, Path]:
    """``a`` in PEFT's format, ``b`` in mlx-lm's: the policy takes either."""
    root = tmp_path_factory.mktemp("adapters")
    a = random_adapter(model_dir, root / "a", seed=1, targets=TARGETS)
    b = peft_to_mlx(random_adapter(model_dir, root / "b-peft", seed=2, targets=TARGETS), root / "b")
    return {"a": a, "b": b}


@pytest.fixture
def counted_loads(monkeypatch) -> list[str]:
    """Every ``mlx_lm.load`` call, by model path."""
    calls: list[str] = []
    real = mlx_lm.load

    def load(path, *args, **kwargs):
        calls.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(mlx_lm, "load", load)
    return calls


def test_generates_greedily_and_reports_tokens(model_dir):
    policy = MlxPolicy(model_dir)
    assert isinstance(policy, Policy)
    assert policy.backend == "mlx" and policy.model_id == str(model_dir)
    assert policy.context_window == 2048
    first = policy.generate(PROMPT, max_new_tokens=8)
    again = policy.generate(PROMPT, max_new_tokens=8)
    assert isinstance(first.text, str) and first.text
    assert (first.text, first.token_logprobs) == (again.text, again.token_logprobs)
    assert first.prompt_tokens > 10
    assert 0 < first.completion_tokens <= 8
    assert len(first.token_logprobs) >= first.completion_tokens
    assert all(lp <= 0 for lp in first.token_logprobs)
    assert first.seconds > 0 and first.tokens_per_s > 0
    assert policy.count_tokens("hello world") > 0
    assert policy.generate(PROMPT, max_new_tokens=0).completion_tokens == 0


def test_greedy_text_matches_the_transformers_backend(model_dir, adapters):
    """Same chat template, same EOS handling, same numbers: the same greedy answer."""
    mlx, torch_policy = MlxPolicy(model_dir), TransformersPolicy(model_dir)
    assert mlx.generate(PROMPT, max_new_tokens=12).text == torch_policy.generate(PROMPT, max_new_tokens=12).text
    mlx.load_adapter("a", adapters["a"])
    torch_policy.load_adapter("a", adapters["a"])
    with_a = mlx.generate(PROMPT, max_new_tokens=12)
    assert with_a.text == torch_policy.generate(PROMPT, max_new_tokens=12).text
    assert mlx.count_tokens(PROMPT.text) == torch_policy.count_tokens(PROMPT.text)


def test_sampling_with_temperature_returns_text(model_dir):
    generation = MlxPolicy(model_dir).generate(PROMPT, max_new_tokens=6, temperature=1.0)
    assert 0 < generation.completion_tokens <= 6
    assert len(generation.token_logprobs) >= generation.completion_tokens


def test_generates_from_a_worker_thread(model_dir):
    """The agent takes the screenshot on its own thread while the model generates on another."""
    policy = MlxPolicy(model_dir)
    expected = policy.generate(PROMPT, max_new_tokens=6).text
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(policy.generate(PROMPT, max_new_tokens=6).text))
    worker.start()
    worker.join(timeout=60)
    assert results == [expected]


def test_hot_swap_switches_and_switches_back_exactly_with_one_base_load(model_dir, adapters, counted_loads):
    policy = MlxPolicy(model_dir)
    base_logits = policy.logits(TEXT)
    base_text = policy.generate(PROMPT, max_new_tokens=8).text

    policy.load_adapter("a", adapters["a"])  # PEFT format, converted on load
    assert policy.active_adapter == "a"
    a_logits, a_text = policy.logits(TEXT), policy.generate(PROMPT, max_new_tokens=8).text
    policy.load_adapter("b", adapters["b"])  # mlx-lm format
    assert policy.active_adapter == "b" and policy.adapters == ["a", "b"]
    b_logits = policy.logits(TEXT)

    assert np.abs(a_logits - base_logits).max() > 0.1
    assert np.abs(b_logits - a_logits).max() > 0.1

    policy.set_adapter("a")
    assert np.array_equal(policy.logits(TEXT), a_logits)
    assert policy.generate(PROMPT, max_new_tokens=8).text == a_text
    policy.set_adapter("b")
    assert np.array_equal(policy.logits(TEXT), b_logits)
    policy.set_adapter(None)
    assert policy.active_adapter is None
    assert np.array_equal(policy.logits(TEXT), base_logits)
    assert policy.generate(PROMPT, max_new_tokens=8).text == base_text

    assert counted_loads == [str(model_dir)]
    assert policy.base_loads == 1


def test_unloading_the_active_adapter_returns_to_the_exact_base(model_dir, adapters):
    policy = MlxPolicy(model_dir)
    base_logits = policy.logits(TEXT)
    policy.load_adapter("a", adapters["a"])
    policy.load_adapter("b", adapters["b"])
    policy.unload_adapter("b")
    assert policy.adapters == ["a"] and policy.active_adapter is None
    assert np.array_equal(policy.logits(TEXT), base_logits)
    policy.set_adapter("a")
    policy.unload_adapter("a")
    assert policy.adapters == [] and np.array_equal(policy.logits(TEXT), base_logits)


def test_unknown_names_and_bad_paths_are_clear_errors(model_dir, adapters, tmp_path):
    policy = MlxPolicy(model_dir)
    policy.load_adapter("a", adapters["a"])
    with pytest.raises(PolicyError, match=r"no adapter named 'nope' is loaded \(loaded: a\)"):
        policy.set_adapter("nope")
    with pytest.raises(PolicyError, match="no adapter named 'nope' is loaded"):
        policy.unload_adapter("nope")
    with pytest.raises(PolicyError, match="an adapter named 'a' is already loaded"):
        policy.load_adapter("a", adapters["b"])
    with pytest.raises(PolicyError, match=r"no adapter directory at .*missing"):
        policy.load_adapter("missing", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError, match=r"no adapter at .*empty"):
        policy.load_adapter("empty", tmp_path / "empty")
    assert policy.adapters == ["a"] and policy.active_adapter == "a"  # failures change nothing
    with pytest.raises(PolicyError, match=r"config\.json is missing"):
        MlxPolicy(tmp_path / "empty")


def test_an_adapter_for_another_model_is_refused_and_the_active_one_stays(
    model_dir, adapters, tmp_path, random_adapter
):
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    other = tmp_path / "wider"  # same layout, hidden size 128: every LoRA tensor has the wrong shape
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(other)
    config = LlamaConfig.from_pretrained(model_dir)
    config.update({"hidden_size": 128, "intermediate_size": 384, "num_attention_heads": 2, "num_key_value_heads": 2})
    LlamaForCausalLM(config).save_pretrained(other)
    foreign = random_adapter(other, tmp_path / "foreign", seed=3, targets=TARGETS)

    policy = MlxPolicy(model_dir)
    policy.load_adapter("a", adapters["a"])
    a_logits = policy.logits(TEXT)
    with pytest.raises(PolicyError, match="adapter 'foreign' does not fit this model"):
        policy.load_adapter("foreign", foreign)
    assert policy.adapters == ["a"] and policy.active_adapter == "a"
    assert np.array_equal(policy.logits(TEXT), a_logits)


def test_open_policy_opens_mlx_with_an_adapter(model_dir, adapters):
    policy = open_policy("mlx", model_dir, adapter=str(adapters["b"]))
    assert isinstance(policy, MlxPolicy)
    assert policy.adapters == ["b"] and policy.active_adapter == "b"
    policy.close()
