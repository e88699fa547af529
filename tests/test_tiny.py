"""The tiny model traj builds for itself: deterministic, an ordinary checkpoint directory that
transformers and mlx-lm load, and good enough at deciding to be a useful test subject."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from traj.cli import app
from traj.errors import TrainingError
from traj.tiny import (
    SHAPES,
    SHIPPED,
    TinyConfig,
    build_untrained,
    default_tiny_path,
    evaluate_tiny,
    init_tiny,
    recipe_key,
    shipped_tiny,
)


def _digest(path: Path) -> str:
    return hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest()


def test_a_build_is_deterministic_for_a_seed_and_cached(tmp_path: Path) -> None:
    first = init_tiny(tmp_path / "a", seed=3, steps=2, progress=False)
    second = init_tiny(tmp_path / "b", seed=3, steps=2, progress=False)
    assert _digest(first) == _digest(second)
    assert (first / "tokenizer.json").read_bytes() == (second / "tokenizer.json").read_bytes()
    summary = json.loads((first / "traj-tiny.json").read_text())
    assert summary["seed"] == 3 and summary["steps"] == 2
    written = (first / "model.safetensors").stat().st_mtime_ns
    assert init_tiny(first, seed=3, steps=2) == first  # the marker is there: reused, not rebuilt
    assert (first / "model.safetensors").stat().st_mtime_ns == written
    assert not list(tmp_path.glob(".a*partial")), "no work directory is left behind"


def test_transformers_and_mlx_load_it_as_a_checkpoint_and_agree(tiny_model: Path) -> None:
    import mlx.core as mx
    import numpy as np
    import torch
    from mlx_lm import load
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = tokenizer("Goal: sign in as ada", add_special_tokens=False)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32).eval()
    with torch.inference_mode():
        torch_logits = model(input_ids=torch.tensor([ids])).logits[0].numpy()
    mlx_model, mlx_tokenizer = load(str(tiny_model))
    assert mlx_tokenizer.encode("Goal: sign in as ada", add_special_tokens=False) == ids
    mlx_logits = np.array(mlx_model(mx.array([ids]))[0].astype(mx.float32))
    assert np.abs(torch_logits - mlx_logits).max() < 1e-3


def test_the_default_model_writes_valid_actions_and_follows_a_demonstration(tiny_model: Path) -> None:
    """Two bars on held-out synthetic sites: nearly every answer parses as an action, and the
    episode's own demonstration in context makes the next action far more often right
    (what SDFT's teacher needs to be better than the student)."""
    report = evaluate_tiny(tiny_model, n=40)
    # Unconstrained greedy answers: the shipped model writes 95% valid actions over 200 decisions
    # per condition (report.json), 93% over these 40; the misses are runaway repeats of a field.
    assert report.valid_action_rate >= 0.9
    assert report.accuracy_with_own_demo >= report.accuracy_without_demo + 0.2


def test_an_untrained_model_does_not_pass_that_bar(tmp_path: Path) -> None:
    """The bar above measures the pretraining, not the evaluation: random weights fail it."""
    report = evaluate_tiny(build_untrained(tmp_path / "u"), n=10)
    assert report.valid_action_rate < 0.5


@pytest.fixture(scope="module")
def circuit_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of no step: the tokenizer and the hand-built copying circuit alone."""
    return init_tiny(tmp_path_factory.mktemp("circuit") / "c", seed=3, steps=0, progress=False)


def test_the_copying_circuit_tells_every_line_number_apart(circuit_only: Path) -> None:
    """Built by hand before training, the copying circuit alone continues a demonstration at the
    line the prompt is on, for every line of a long one: line 12 is neither line 1 nor line 2.
    (Its first version stored only a line number's first digit, so lines 10 to 19 copied line 1:
    half of the teacher's misses on the expense task, whose demonstration has 10 steps.)"""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(circuit_only)
    model = AutoModelForCausalLM.from_pretrained(circuit_only, dtype=torch.float32).eval()
    # ids never end in their own line's two digits: "Step 12:" and a "312" on line 12 share
    # the 3-gram ("1", "2", next) the circuit matches on, a true ambiguity for it
    targets = {line: str(201 + 34 * line) for line in range(1, 26)}
    assert len(set(targets.values())) == 25 and not any(t.endswith(str(n)) for n, t in targets.items() if n > 9)
    demo = "".join(f'Step {n}: {{"kind":"CLICK","target":"{t}","value":null}}\n' for n, t in targets.items())
    wrong = {}
    for line, target in targets.items():
        prompt = f"Demonstration of: the task.\n{demo}Goal: the task.\nNext action:\nStep {line}:"
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.inference_mode():
            out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        answer = tokenizer.decode(out[0, ids.shape[1] :]).replace(" ", "")
        if f'"target":"{target}"' not in answer:
            wrong[line] = answer
    assert not wrong


def test_the_shipped_model_is_the_default_and_matches_its_recipe() -> None:
    """The committed model is what every machine loads (a build differs across CPUs); a recipe
    change without a rebuild would silently fall back to building, so it fails here instead."""
    assert shipped_tiny() == SHIPPED, "traj/tiny/shipped was built from another recipe: run `traj model build`"
    assert init_tiny(progress=False) == SHIPPED
    summary = json.loads((SHIPPED / "traj-tiny.json").read_text())
    assert summary["key"] == recipe_key()
    weights = (SHIPPED / "model.safetensors").stat().st_size
    assert weights <= 40 * 2**20
    report = json.loads((SHIPPED / "report.json").read_text())
    # what `traj model build` measured (n=200 per condition, greedy without the constraint): 94.7%,
    # most misses a free-text answer running on without a demonstration, which the agent's
    # constrained decoding cannot write
    assert report["valid_action_rate"] >= 0.94


def test_a_recipe_change_builds_into_the_cache_instead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAJ_CACHE", str(tmp_path))
    assert init_tiny(seed=3, steps=1, progress=False) == default_tiny_path(3, 1)
    assert default_tiny_path(3, 1).parent == tmp_path and default_tiny_path(3, 1) != SHIPPED


def test_model_build_from_the_command_line(tmp_path: Path) -> None:
    target = tmp_path / "m"
    result = CliRunner().invoke(app, ["model", "build", str(target), "--steps", "1", "--report-n", "2"])
    assert result.exit_code == 0, result.output
    assert str(target) in result.output.replace("\n", "")
    assert (target / "traj-tiny.json").is_file()
    assert json.loads((target / "report.json").read_text())["n"] == 2
    again = CliRunner().invoke(app, ["model", "build", str(target), "--steps", "1"])
    assert again.exit_code == 1 and "already holds a built model" in again.output


def test_the_shape_options_leave_the_default_recipe_key_alone() -> None:
    """The shipped model is found by its key: naming the default shape changes nothing, and any
    other shape or batch size is another recipe, cached under another key."""
    assert recipe_key(shape="tiny", tokens_per_batch=None) == recipe_key()
    assert (
        len({recipe_key(), recipe_key(shape="small"), recipe_key(shape="medium"), recipe_key(tokens_per_batch=8192)})
        == 4
    )
    assert default_tiny_path(0, 5, shape="small") != default_tiny_path(0, 5)


@pytest.mark.parametrize("name", list(SHAPES))
def test_every_shape_ships_under_40_mib_and_loads_everywhere(name: str) -> None:
    """Issue 25's resources: at most 40 MB of weights, head_dim >= 32 (vLLM), and the hidden size
    the hand-built copying circuit writes its residual slots into."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = TinyConfig.llama_config(2048, pad_id=0, eos_id=4, shape=SHAPES[name])
    with torch.device("meta"):
        parameters = LlamaForCausalLM(LlamaConfig(**config)).num_parameters()
    assert parameters * getattr(torch, config["torch_dtype"]).itemsize <= 40 * 2**20
    assert config["head_dim"] == 64 and config["hidden_size"] >= 256
    assert config["hidden_size"] == config["num_attention_heads"] * config["head_dim"]


def test_a_larger_shape_builds_from_the_command_line_through_the_same_path(tmp_path: Path) -> None:
    import mlx.core as mx
    import numpy as np
    import torch
    from mlx_lm import load
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM

    target = tmp_path / "small"
    command = ["model", "build", str(target), "--shape", "small", "--steps", "2", "--tokens-per-batch", "2048"]
    result = CliRunner().invoke(app, [*command, "--seed", "3", "--report-n", "2"])
    assert result.exit_code == 0, result.output
    config = json.loads((target / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["torch_dtype"]) == (384, 6, "bfloat16")
    summary = json.loads((target / "traj-tiny.json").read_text())
    assert summary["key"] == recipe_key(3, 2, shape="small", tokens_per_batch=2048)
    assert summary["shape"]["name"] == "small" and summary["recipe"]["tokens_per_batch"] == 2048
    with safe_open(target / "model.safetensors", "pt") as weights:
        assert {weights.get_tensor(name).dtype for name in weights.keys()}  # noqa: SIM118 (safe_open is no dict) == {torch.bfloat16}
    ids = [5, 17, 300, 42]
    model = AutoModelForCausalLM.from_pretrained(target, dtype=torch.float32).eval()
    with torch.inference_mode():
        torch_logits = model(input_ids=torch.tensor([ids])).logits[0].numpy()
    mlx_model, _ = load(str(target))
    mlx_model.set_dtype(mx.float32)  # computes in the weights' bfloat16 otherwise; torch computes in float32
    mlx_logits = np.array(mlx_model(mx.array([ids]))[0])
    assert np.abs(torch_logits - mlx_logits).max() < 1e-3


def test_batches_made_in_a_worker_process_are_the_ones_made_in_process() -> None:
    """A GPU build makes its batches in a worker (prefetch); the model must not depend on it."""
    import random

    from transformers import AutoTokenizer

    from traj.tiny._model import _RECIPE, _TRAIN_FAMILIES, _batch_source, _training_batches
    from traj.tiny._synthetic import decisions

    tokenizer = AutoTokenizer.from_pretrained(SHIPPED)

    def made(prefetch: bool) -> list[tuple[object, object]]:
        stream = decisions(1, 1 << 30, families=_TRAIN_FAMILIES)
        rngs = random.Random("b"), random.Random("c")
        return list(_batch_source(lambda: _training_batches(tokenizer, stream, 12, _RECIPE, *rngs), prefetch=prefetch))

    here, there = made(False), made(True)
    assert len(here) == len(there) == 12
    for (ids, weights), (other_ids, other_weights) in zip(here, there, strict=True):
        assert ids.equal(other_ids) and weights.equal(other_weights)
    assert sum(int(ids.shape[0]) == _RECIPE.copy_sequences for ids, _ in here) >= 2  # every 5th is a copy batch


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"device": "cuda:7"}, "not available"),
        ({"device": "abacus"}, "unknown device"),
        ({"shape": "huge"}, "unknown model shape"),
        ({"tokens_per_batch": 512}, "tokens per batch"),
    ],
)
def test_a_build_it_cannot_do_is_refused_before_anything_is_written(
    tmp_path: Path, options: dict[str, object], message: str
) -> None:
    import torch

    if options.get("device") == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a CUDA device 7")
    with pytest.raises(TrainingError, match=message):
        init_tiny(tmp_path / "m", steps=1, progress=False, **options)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(
    not __import__("torch").cuda.is_available(),
    reason="needs a CUDA GPU; on a lent one run `traj model build OUT --shape small --device cuda --steps 20`",
)
def test_a_cuda_build_trains_on_the_gpu(tmp_path: Path) -> None:
    target = init_tiny(
        tmp_path / "gpu", seed=3, steps=20, shape="small", tokens_per_batch=16384, device="cuda", progress=False
    )
    summary = json.loads((target / "traj-tiny.json").read_text())
    assert summary["device"].startswith("cuda") and summary["final_loss"] < 7
    assert evaluate_tiny(target, n=4, device="cuda").n == 4
