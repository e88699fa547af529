"""The transformers backend: generation, and PEFT adapters hot-swapped over one loaded base model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from traj.errors import PolicyError
from traj.policy import Policy, TokenText, TransformersPolicy, open_policy
from traj.prompt import Prompt

PROMPT = Prompt("You are a browser agent. Goal: book the cheapest flight.\nNext action:", 0)


@pytest.fixture(scope="module")
def adapters(model_dir, tmp_path_factory, random_adapter) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    targets = ("q_proj", "v_proj", "down_proj")
    return {
        name: random_adapter(model_dir, root / name, seed=seed, targets=targets) for name, seed in (("a", 1), ("b", 2))
    }


def test_generates_greedily_and_reports_tokens(model_dir):
    policy = TransformersPolicy(model_dir)
    assert isinstance(policy, Policy)
    first = policy.generate(PROMPT, max_new_tokens=8)
    again = policy.generate(PROMPT, max_new_tokens=8)
    assert first.text == again.text
    assert first.prompt_tokens > 10
    assert 0 < first.completion_tokens <= 8
    assert len(first.token_logprobs) >= first.completion_tokens
    assert all(lp <= 0 for lp in first.token_logprobs)
    assert policy.count_tokens("hello world") > 0


def test_hot_swap_switches_and_switches_back_exactly_with_one_base_load(model_dir, adapters):
    policy = TransformersPolicy(model_dir)
    text = "Goal: book it"
    base = policy.logits(text)
    policy.load_adapter("a", adapters["a"])
    policy.load_adapter("b", adapters["b"])
    assert policy.adapters == ["a", "b"]
    assert policy.active_adapter == "b"
    with_b = policy.logits(text)
    policy.set_adapter("a")
    with_a = policy.logits(text)
    assert (with_a - with_b).abs().max() > 1e-2
    assert (with_a - base).abs().max() > 1e-2
    policy.set_adapter("b")
    assert torch.equal(policy.logits(text), with_b)
    policy.set_adapter(None)
    assert torch.equal(policy.logits(text), base)
    policy.set_adapter("a")
    assert torch.equal(policy.logits(text), with_a)
    policy.unload_adapter("a")
    assert policy.active_adapter is None and policy.adapters == ["b"]
    assert torch.equal(policy.logits(text), base)
    policy.unload_adapter("b")
    assert torch.equal(policy.logits(text), base)
    assert policy.base_loads == 1


def test_adapter_errors_are_clear(model_dir, adapters, tmp_path):
    policy = TransformersPolicy(model_dir)
    with pytest.raises(PolicyError, match="no PEFT adapter"):
        policy.load_adapter("x", tmp_path)
    with pytest.raises(PolicyError, match="no adapter named 'zzz' is loaded"):
        policy.set_adapter("zzz")
    policy.load_adapter("a", adapters["a"])
    with pytest.raises(PolicyError, match="already loaded"):
        policy.load_adapter("a", adapters["b"])
    with pytest.raises(PolicyError, match="cannot load the model"):
        TransformersPolicy(tmp_path)


def test_open_policy_loads_an_adapter_by_directory(model_dir, adapters):
    policy = open_policy("transformers", model_dir, adapter=str(adapters["a"]))
    assert policy.active_adapter == "a"
    with pytest.raises(PolicyError, match="unknown backend"):
        open_policy("tensorrt", model_dir)
    with pytest.raises(PolicyError, match="no adapter 'nope'"):
        open_policy("transformers", model_dir, adapter="nope")


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir)


@settings(max_examples=60, deadline=None)
@given(text=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\ufffd"), max_size=40))
def test_token_text_pieces_add_up_to_the_decoded_text(tokenizer, text):
    """What a stream shows token by token is the text decoded at the end: spaces kept, no half characters."""
    made = TokenText(tokenizer)
    tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
    pieces = [made.add(token) for token in tokens]
    assert "".join(pieces) == tokenizer.decode(tokens, skip_special_tokens=True)
    assert not any("\ufffd" in piece for piece in pieces)
