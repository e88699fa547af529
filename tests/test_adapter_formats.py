"""PEFT <-> mlx-lm LoRA adapters: the same input gives the same logits through torch+PEFT and MLX.

Tolerance: max |logit difference| < 1e-4 (float32 on CPU). Measured: bare base ~1.1e-6 (Llama)
and ~1.4e-6 (Qwen2); with adapters that move the logits by ~2, 1.5e-6 (Llama), 2.0e-5 (Qwen2
GQA), 8.7e-6 (Qwen2 rsLoRA). Without the real ``rope_theta`` the Qwen2 base drifts by 4e-2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

from traj.cli import app
from traj.errors import PolicyError
from traj.policy import AdapterFormatError, MlxPolicy, detect_adapter_format, mlx_to_peft, peft_to_mlx

TEXT = "You are a browser agent. Goal: book the cheapest flight.\nNext action: click e3"
ALL_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def llama_dir(model_dir: Path) -> Path:
    """traj's tiny Llama: 4 layers, square attention projections, non-square MLP."""
    return model_dir


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory, llama_dir) -> Path:
    """A Qwen2 with grouped-query attention (k_proj, v_proj 256 -> 128), q/k/v biases, and the
    config transformers 5 writes (``rope_theta`` inside ``rope_parameters``)."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    path = tmp_path_factory.mktemp("qwen") / "model"
    tokenizer = AutoTokenizer.from_pretrained(llama_dir)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    assert "rope_theta" not in json.loads((path / "config.json").read_text())  # the pitfall is present
    return path


def make_peft_adapter(model_dir: Path, path: Path, *, seed: int = 1, **lora: object) -> Path:
    """A PEFT LoRA adapter with random A and B (PEFT starts B at zero, which would test nothing)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    options: dict[str, object] = {"r": 8, "lora_alpha": 16, "target_modules": ALL_MODULES, **lora}
    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), LoraConfig(**options))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.3)
    model.save_pretrained(path)
    return path


def torch_logits(model_dir: Path, adapter: Path | None = None) -> np.ndarray:
    """Logits at every position of TEXT through transformers (and PEFT when ``adapter`` is given)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ids = AutoTokenizer.from_pretrained(model_dir)(TEXT, return_tensors="pt", add_special_tokens=False)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    model.eval()
    with torch.no_grad():
        return model(input_ids=ids).logits[0].float().numpy()


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.abs(a - b).max())


# ---------------------------------------------------------------------------- numerics


@pytest.mark.parametrize(
    ("model", "lora"),
    [
        ("llama_dir", {}),
        ("qwen_dir", {"r": 4, "lora_alpha": 12}),
        ("qwen_dir", {"r": 4, "lora_alpha": 8, "use_rslora": True}),
    ],
    ids=["llama-all-modules", "qwen2-gqa", "qwen2-gqa-rslora"],
)
def test_converted_adapter_gives_the_peft_logits_in_mlx(model, lora, request, tmp_path):
    model_dir: Path = request.getfixturevalue(model)
    peft_dir = make_peft_adapter(model_dir, tmp_path / "peft", **lora)
    mlx_dir = peft_to_mlx(peft_dir, tmp_path / "mlx")

    base, adapted = torch_logits(model_dir), torch_logits(model_dir, peft_dir)
    assert max_diff(base, adapted) > 0.1  # the adapter really moves the logits

    policy = MlxPolicy(model_dir)
    assert max_diff(policy.logits(TEXT), base) < TOLERANCE
    policy.load_adapter("converted", mlx_dir)
    assert max_diff(policy.logits(TEXT), adapted) < TOLERANCE

    config = json.loads((mlx_dir / "adapter_config.json").read_text())
    rank, alpha = lora.get("r", 8), lora.get("lora_alpha", 16)
    expected_scale = alpha / rank**0.5 if lora.get("use_rslora") else alpha / rank
    assert config["lora_parameters"]["scale"] == pytest.approx(expected_scale)
    assert config["num_layers"] == json.loads((model_dir / "config.json").read_text())["num_hidden_layers"]


def test_non_square_projections_are_transposed_to_mlx_shapes(qwen_dir, tmp_path):
    mlx_dir = peft_to_mlx(make_peft_adapter(qwen_dir, tmp_path / "peft", r=4), tmp_path / "mlx")
    tensors = load_file(mlx_dir / "adapters.safetensors")
    assert tensors["model.layers.0.self_attn.k_proj.lora_a"].shape == (256, 4)  # (in, r)
    assert tensors["model.layers.0.self_attn.k_proj.lora_b"].shape == (4, 128)  # (r, out): 2 kv heads x 64
    assert tensors["model.layers.0.mlp.down_proj.lora_a"].shape == (512, 4)
    assert tensors["model.layers.0.mlp.down_proj.lora_b"].shape == (4, 256)


def test_a_missing_transpose_loads_for_square_matrices_and_is_caught_by_the_logits(llama_dir, tmp_path):
    """Guards the numeric test: writing B and A untransposed as lora_a and lora_b fits every square
    projection (it computes x (BA) instead of x (BA)^T) and must not pass the tolerance."""
    peft_dir = make_peft_adapter(llama_dir, tmp_path / "peft", target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    good = peft_to_mlx(peft_dir, tmp_path / "mlx")
    peft = load_file(peft_dir / "adapter_model.safetensors")
    wrong = {}
    for name in load_file(good / "adapters.safetensors"):
        module = "base_model.model." + name.rsplit(".", 1)[0]
        wrong[name] = peft[f"{module}.lora_B.weight"] if name.endswith("lora_a") else peft[f"{module}.lora_A.weight"]
    broken = tmp_path / "broken"
    shutil.copytree(good, broken)
    save_file(wrong, broken / "adapters.safetensors")

    adapted = torch_logits(llama_dir, peft_dir)
    policy = MlxPolicy(llama_dir)
    policy.load_adapter("good", good)
    policy.load_adapter("broken", broken)  # loads: every shape fits
    policy.set_adapter("good")
    assert max_diff(policy.logits(TEXT), adapted) < TOLERANCE
    policy.set_adapter("broken")
    assert max_diff(policy.logits(TEXT), adapted) > 100 * TOLERANCE


def test_untransposed_non_square_tensors_are_refused_on_load(llama_dir, tmp_path):
    good = peft_to_mlx(make_peft_adapter(llama_dir, tmp_path / "peft", target_modules=["up_proj"]), tmp_path / "mlx")
    broken = tmp_path / "broken"
    shutil.copytree(good, broken)
    save_file(
        {k: v.T.copy() for k, v in load_file(good / "adapters.safetensors").items()}, broken / "adapters.safetensors"
    )
    policy = MlxPolicy(llama_dir)
    with pytest.raises(
        PolicyError, match=r"does not fit this model: model\.layers\.\d\.mlp\.up_proj\.lora_[ab] is \(\d+, 8\)"
    ):
        policy.load_adapter("broken", broken)
    assert policy.adapters == [] and policy.active_adapter is None


# ---------------------------------------------------------------------------- round trips


def test_round_trip_peft_mlx_peft_gives_identical_tensors_and_logits(llama_dir, tmp_path):
    peft_dir = make_peft_adapter(llama_dir, tmp_path / "peft")
    back = mlx_to_peft(peft_to_mlx(peft_dir, tmp_path / "mlx"), tmp_path / "back", base_model=str(llama_dir))

    original, returned = (
        load_file(peft_dir / "adapter_model.safetensors"),
        load_file(back / "adapter_model.safetensors"),
    )
    assert original.keys() == returned.keys()
    for name, tensor in original.items():
        assert returned[name].dtype == tensor.dtype and np.array_equal(returned[name], tensor), name
    config = json.loads((back / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["base_model_name_or_path"]) == (8, 16, str(llama_dir))
    assert sorted(config["target_modules"]) == sorted(ALL_MODULES)
    assert np.array_equal(torch_logits(llama_dir, back), torch_logits(llama_dir, peft_dir))


def test_round_trip_mlx_peft_mlx_gives_identical_tensors(qwen_dir, tmp_path):
    mlx_dir = peft_to_mlx(make_peft_adapter(qwen_dir, tmp_path / "peft", r=4), tmp_path / "mlx")
    again = peft_to_mlx(mlx_to_peft(mlx_dir, tmp_path / "peft2", base_model=str(qwen_dir)), tmp_path / "mlx2")
    first, second = load_file(mlx_dir / "adapters.safetensors"), load_file(again / "adapters.safetensors")
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[name], second[name]) for name in first)
    config, config2 = (json.loads((d / "adapter_config.json").read_text()) for d in (mlx_dir, again))
    assert config["lora_parameters"] == config2["lora_parameters"]
    assert config["num_layers"] == config2["num_layers"] == 3


# ---------------------------------------------------------------------------- layers


def test_adapter_on_the_last_layers_converts_to_num_layers(llama_dir, tmp_path):
    peft_dir = make_peft_adapter(llama_dir, tmp_path / "peft", layers_to_transform=[2, 3])
    mlx_dir = peft_to_mlx(peft_dir, tmp_path / "mlx")
    assert json.loads((mlx_dir / "adapter_config.json").read_text())["num_layers"] == 2
    policy = MlxPolicy(llama_dir)
    policy.load_adapter("last-two", mlx_dir)
    assert max_diff(policy.logits(TEXT), torch_logits(llama_dir, peft_dir)) < TOLERANCE


def test_adapter_on_leading_layers_is_refused_because_mlx_adapts_the_last_ones(llama_dir, tmp_path):
    peft_dir = make_peft_adapter(llama_dir, tmp_path / "peft", layers_to_transform=[0, 1])
    with pytest.raises(AdapterFormatError, match=r"layers 0-1 of 4; mlx-lm applies LoRA to the last num_layers"):
        peft_to_mlx(peft_dir, tmp_path / "mlx")
    policy = MlxPolicy(llama_dir)
    with pytest.raises(PolicyError, match="last num_layers"):
        policy.load_adapter("leading", peft_dir)


def test_mlx_adapter_for_other_layers_is_refused_not_silently_ignored(llama_dir, tmp_path):
    """mlx-lm's load_weights(strict=False) would skip the tensors and run the bare base."""
    mlx_dir = peft_to_mlx(make_peft_adapter(llama_dir, tmp_path / "peft", layers_to_transform=[2, 3]), tmp_path / "mlx")
    config = json.loads((mlx_dir / "adapter_config.json").read_text())
    (mlx_dir / "adapter_config.json").write_text(json.dumps({**config, "num_layers": 1}))
    with pytest.raises(PolicyError, match=r"model\.layers\.2\..* is not a LoRA parameter here"):
        MlxPolicy(llama_dir).load_adapter("mismatch", mlx_dir)


# ---------------------------------------------------------------------------- errors


def test_detects_both_formats_and_refuses_an_empty_directory(llama_dir, tmp_path):
    peft_dir = make_peft_adapter(llama_dir, tmp_path / "peft", target_modules=["q_proj"])
    assert detect_adapter_format(peft_dir) == "peft"
    assert detect_adapter_format(peft_to_mlx(peft_dir, tmp_path / "mlx")) == "mlx"
    (tmp_path / "empty").mkdir()
    with pytest.raises(AdapterFormatError, match=r"no adapter at .*empty: expected adapter_model\.safetensors"):
        detect_adapter_format(tmp_path / "empty")
    (tmp_path / "half").mkdir()
    shutil.copy(peft_dir / "adapter_model.safetensors", tmp_path / "half")
    with pytest.raises(
        AdapterFormatError, match=r"adapter_config\.json and adapter_model\.safetensors are both needed"
    ):
        peft_to_mlx(tmp_path / "half", tmp_path / "out")
    assert issubclass(AdapterFormatError, PolicyError)


def test_dora_has_no_mlx_lora_form(llama_dir, tmp_path):
    dora = make_peft_adapter(llama_dir, tmp_path / "dora", target_modules=["q_proj"], use_dora=True)
    with pytest.raises(AdapterFormatError, match="only plain LoRA converts to mlx-lm"):
        peft_to_mlx(dora, tmp_path / "mlx")
    mlx_dir = peft_to_mlx(make_peft_adapter(llama_dir, tmp_path / "peft", target_modules=["q_proj"]), tmp_path / "m")
    config = json.loads((mlx_dir / "adapter_config.json").read_text())
    (mlx_dir / "adapter_config.json").write_text(json.dumps({**config, "fine_tune_type": "dora"}))
    with pytest.raises(AdapterFormatError, match=r"only plain LoRA converts to PEFT \(this is dora\)"):
        mlx_to_peft(mlx_dir, tmp_path / "back")
    with pytest.raises(PolicyError, match="only LoRA adapters hot-swap"):
        MlxPolicy(llama_dir).load_adapter("dora", mlx_dir)


def test_rank_mismatch_and_missing_scale_are_refused(llama_dir, tmp_path):
    peft_dir = make_peft_adapter(llama_dir, tmp_path / "peft", target_modules=["q_proj"])
    config = json.loads((peft_dir / "adapter_config.json").read_text())
    mlx_dir = peft_to_mlx(peft_dir, tmp_path / "mlx")
    (peft_dir / "adapter_config.json").write_text(json.dumps({**config, "r": 4}))
    with pytest.raises(AdapterFormatError, match=r"has shape \(\d+, \d+\), not rank r=4"):
        peft_to_mlx(peft_dir, tmp_path / "out")

    mlx_config = json.loads((mlx_dir / "adapter_config.json").read_text())
    parameters = {k: v for k, v in mlx_config["lora_parameters"].items() if k != "scale"}
    (mlx_dir / "adapter_config.json").write_text(
        json.dumps({**mlx_config, "lora_parameters": {**parameters, "alpha": 16}})
    )
    with pytest.raises(AdapterFormatError, match="needs 'rank' and 'scale'"):
        mlx_to_peft(mlx_dir, tmp_path / "back")
    with pytest.raises(PolicyError, match="lora_parameters rank, scale"):
        MlxPolicy(llama_dir).load_adapter("no-scale", mlx_dir)


def test_half_a_lora_pair_is_refused(llama_dir, tmp_path):
    peft_dir = make_peft_adapter(llama_dir, tmp_path / "peft", target_modules=["q_proj"])
    tensors = load_file(peft_dir / "adapter_model.safetensors")
    save_file(
        {k: v for k, v in tensors.items() if "layers.1." not in k or "lora_A" in k},
        peft_dir / "adapter_model.safetensors",
    )
    with pytest.raises(AdapterFormatError, match=r"layers\.1\.self_attn\.q_proj has lora_a without its other half"):
        peft_to_mlx(peft_dir, tmp_path / "mlx")


# ---------------------------------------------------------------------------- command line


def test_cli_converts_detecting_the_source_format(llama_dir, tmp_path):
    peft_dir = make_peft_adapter(llama_dir, tmp_path / "peft", target_modules=["q_proj", "up_proj"])
    runner = CliRunner()
    result = runner.invoke(app, ["adapters", "convert", str(peft_dir), str(tmp_path / "mlx")])
    assert result.exit_code == 0, result.output
    assert "converted peft adapter" in result.output
    assert detect_adapter_format(tmp_path / "mlx") == "mlx"
    result = runner.invoke(
        app, ["adapters", "convert", str(tmp_path / "mlx"), str(tmp_path / "back"), "--to", "peft", "--base-model", "m"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "back" / "adapter_config.json").read_text())["base_model_name_or_path"] == "m"
    result = runner.invoke(app, ["adapters", "convert", str(peft_dir), str(tmp_path / "x"), "--to", "peft"])
    assert result.exit_code != 0 and "already a peft adapter" in result.output
    result = runner.invoke(app, ["adapters", "convert", str(tmp_path / "nowhere"), str(tmp_path / "y")])
    assert result.exit_code == 1 and "error: no adapter at" in result.output
