"""Training placed on a device in a dtype: a bfloat16 base under float32 adapters, every tensor
of a step where the config puts it, gradient checkpointing and micro-batches that change memory
but not the update, and the errors for a device or quantization this machine lacks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

import traj.train.sdft as sdft_module
from traj.errors import TrainingError
from traj.eventlog import TrainStarted
from traj.train import SdftConfig, SdftTrainer, TrainingExample, train

EXAMPLES = [
    TrainingExample(
        query=f"Goal: open item {i}\nNext action:",
        teacher_query=f"Demonstration: CLICK {i}\nGoal: open item {i}\nNext action:",
        target=json.dumps({"kind": "CLICK", "target": str(i), "value": None}, separators=(",", ":")),
    )
    for i in range(1, 5)
]
CONFIG = SdftConfig(
    rank=4, lora_alpha=8, learning_rate=5e-3, max_new_tokens=10, mask_first_tokens=1, temperature=0.0, batch_size=4
)
DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")),
]


def test_a_bfloat16_base_trains_float32_adapters_whose_loss_falls_and_load_in_stock_peft(store, model_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = replace(CONFIG, dtype="bfloat16", ema_alpha=0.0, max_steps=8, checkpoint_every=0)
    result = train(store, EXAMPLES, model_dir=model_dir, config=config, name="bf16")
    losses = [step.loss for step in result.steps]
    assert losses[0] > 0 and min(losses[-3:]) < 0.5 * losses[0], losses

    saved = load_file(result.peft_path / "adapter_model.safetensors")
    assert saved and all(t.dtype == torch.float32 for t in saved.values())
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
    parameters = sum(p.numel() for p in base.parameters())
    stock = PeftModel.from_pretrained(base, result.peft_path).eval()
    loaded = {n: p for n, p in stock.named_parameters() if "lora_" in n}
    assert len(loaded) == len(saved) and all(p.dtype == torch.float32 for p in loaded.values())
    tokens = torch.tensor([list(range(5, 25))])
    with torch.no_grad():
        adapted = stock(input_ids=tokens).logits
        with stock.disable_adapter():
            plain = stock(input_ids=tokens).logits
    assert adapted.dtype == plain.dtype == torch.bfloat16
    assert not torch.equal(adapted, plain)  # the trained adapter changes the bf16 model's output

    [started] = store.events(stream=f"train/{result.job_id}", types=["train.started"])
    assert isinstance(started.data, TrainStarted)
    recorded = started.data.config
    assert recorded["dtype"] == "bfloat16" and recorded["placement"]["dtype"] == "bfloat16"
    assert recorded["placement"]["device"] == "cpu" and recorded["placement"]["processes"] == 1
    budget = recorded["memory_budget"]
    assert budget["base_weights"] >= 2 * parameters  # two bytes a weight, plus buffers
    assert budget["optimizer_state"] == 2 * budget["student_adapter"] == 2 * budget["gradients"]
    assert budget["student_adapter"] == 4 * sum(t.numel() for t in saved.values())  # float32 factors
    assert budget["folded_weights"] == 0  # folding is for float32 on the CPU


def _step_tensors(trainer: SdftTrainer, captured: dict[str, Any]) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor a step touched: weights, buffers, gradients, optimizer state, the rollout's
    token buffers and key/value cache, the logits the divergence read."""
    for name, parameter in trainer.model.named_parameters():
        yield name, parameter
        if parameter.grad is not None:
            yield f"{name}.grad", parameter.grad
    for name, buffer in trainer.model.named_buffers():
        yield name, buffer
    for index, state in enumerate(trainer.optimizer.state.values()):
        for key, value in state.items():
            if torch.is_tensor(value) and value.dim() > 0:  # AdamW's step counter is a CPU scalar by design
                yield f"optimizer.{index}.{key}", value
    rollout = captured["rollout"]
    for field in ("ids", "mask", "positions", "response_lengths"):
        yield f"rollout.{field}", getattr(rollout.prompt, field)
    for index, layer in enumerate(rollout.cache.layers):
        yield f"rollout.cache.{index}.keys", layer.keys
        yield f"rollout.cache.{index}.values", layer.values
    yield "divergence.student_logits", captured["student_logits"]
    yield "divergence.teacher_logits", captured["teacher_logits"]


@pytest.mark.parametrize("device", DEVICES)
def test_every_tensor_of_a_step_is_on_the_configured_device_and_dtype(model_dir, monkeypatch, device):
    trainer = SdftTrainer(model_dir, replace(CONFIG, device=device, dtype="bfloat16"), total_steps=3)
    captured: dict[str, Any] = {}
    sample, divergence = trainer._sample, sdft_module.per_token_divergence

    def sampling(*args: Any, **kwargs: Any) -> Any:
        captured["rollout"] = sample(*args, **kwargs)
        return captured["rollout"]

    def diverging(student: torch.Tensor, teacher: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        captured["student_logits"], captured["teacher_logits"] = student, teacher
        return divergence(student, teacher, *args, **kwargs)

    monkeypatch.setattr(trainer, "_sample", sampling)
    monkeypatch.setattr(sdft_module, "per_token_divergence", diverging)
    trainer.step(EXAMPLES)

    placed = trainer.placement.device
    tensors = dict(_step_tensors(trainer, captured))
    assert len(tensors) > 100
    misplaced = [name for name, tensor in tensors.items() if tensor.device != placed]
    assert not misplaced, misplaced[:5]
    floats = {name: t.dtype for name, t in tensors.items() if t.is_floating_point()}
    exact = {
        name: torch.float32
        for name in floats
        if ".student." in name or ".teacher." in name or name.startswith(("optimizer.", "divergence."))
    }
    assert len(exact) > 50 and all(floats[name] == dtype for name, dtype in exact.items())
    weights = [
        name for name in floats if name not in exact and not name.startswith("rollout.") and "rotary" not in name
    ]
    assert weights and all(floats[name] == torch.bfloat16 for name in weights), weights
    caches = [name for name in floats if name.startswith("rollout.cache")]
    assert caches and all(floats[name] == torch.bfloat16 for name in caches)


def _one_step(model_dir: Any, config: SdftConfig) -> tuple[Any, int, list[torch.Tensor]]:
    """A fresh trainer's first step: its metrics, how often the first decoder layer's MLP started
    (a checkpointed layer's recompute starts it again) and the gradients the update used."""
    trainer = SdftTrainer(model_dir, config, total_steps=3)
    calls = [0]
    mlp = trainer.model.base_model.model.model.layers[0].mlp
    mlp.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    metrics = trainer.step(EXAMPLES)
    return metrics, calls[0], [p.grad.clone() for p in trainer.student_parameters]


def _assert_same_gradients(got: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    scale = max(float(g.abs().max()) for g in expected)  # B's gradients (A's are zero while B is)
    assert scale > 0
    for mine, theirs in zip(got, expected, strict=True):
        assert torch.allclose(mine, theirs, rtol=1e-3, atol=1e-5 * scale)


def test_gradient_checkpointing_gives_the_same_gradients_as_keeping_activations(model_dir):
    kept, kept_calls, kept_grads = _one_step(model_dir, CONFIG)
    recomputed, recomputed_calls, recomputed_grads = _one_step(model_dir, replace(CONFIG, gradient_checkpointing=True))
    assert recomputed_calls == kept_calls + 1  # the layer ran again in the backward
    assert recomputed.response_tokens == kept.response_tokens
    assert recomputed.loss == pytest.approx(kept.loss, rel=1e-4)
    _assert_same_gradients(recomputed_grads, kept_grads)


def test_micro_batches_accumulate_to_the_whole_batchs_gradient(model_dir):
    whole, _, whole_grads = _one_step(model_dir, CONFIG)
    micro, _, micro_grads = _one_step(model_dir, replace(CONFIG, micro_batch_size=1))
    assert micro.response_tokens == whole.response_tokens
    assert micro.loss == pytest.approx(whole.loss, rel=1e-4) and micro.kl == pytest.approx(whole.kl, rel=1e-4)
    assert set(micro.phases) >= {"rollout", "student", "teacher", "backward", "optimizer", "ema"}
    _assert_same_gradients(micro_grads, whole_grads)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_a_device_or_quantization_this_machine_lacks_is_one_clear_error(model_dir):
    with pytest.raises(TrainingError, match=r"device cuda:0 is not available: this torch .* sees no CUDA device"):
        SdftTrainer(model_dir, replace(CONFIG, device="cuda"))
    with pytest.raises(TrainingError, match="--quantize 4bit needs a CUDA device"):
        SdftTrainer(model_dir, replace(CONFIG, quantize="4bit"))
    with pytest.raises(TrainingError, match="unknown device 'gpu'"):
        replace(CONFIG, device="gpu")
    with pytest.raises(TrainingError, match="unknown dtype 'fp8'"):
        replace(CONFIG, dtype="fp8")  # type: ignore[arg-type]


def test_the_mlx_backend_refuses_torch_placement(store, model_dir):
    with pytest.raises(TrainingError, match="torch backend's"):
        train(store, EXAMPLES, model_dir=model_dir, config=replace(CONFIG, dtype="bfloat16"), backend="mlx")
    assert store.next_position == 0  # nothing recorded


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--device", "gpu"], "unknown device 'gpu'"),
        (["--dtype", "fp8"], "dtype"),
        (["--quantize", "8bit"], "quantize"),
        (["--micro-batch-size", "0"], "micro-batch-size"),
    ],
)
def test_traj_train_refuses_a_device_option_it_cannot_use_in_one_line(home, option, message):
    from typer.testing import CliRunner

    from traj.cli import app

    done = CliRunner().invoke(app, ["train", "checkout", "--home", str(home), *option])
    assert done.exit_code != 0
    assert message in done.output and "Traceback" not in done.output
    assert not home.exists()  # refused before the store was opened
