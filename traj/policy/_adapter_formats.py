"""LoRA adapters in PEFT's format and in mlx-lm's, converted both ways.

The two formats store the same low-rank update differently:

=====================  ==========================================  ===========================
                       PEFT                                        mlx-lm
=====================  ==========================================  ===========================
files                  adapter_config.json, adapter_model.safetensors  adapter_config.json, adapters.safetensors
down projection        ``...q_proj.lora_A.weight``  (r, in)          ``...q_proj.lora_a``  (in, r)
up projection          ``...q_proj.lora_B.weight``  (out, r)         ``...q_proj.lora_b``  (r, out)
key prefix             ``base_model.model.model.layers.N...``       ``model.layers.N...``
scale                  ``lora_alpha / r`` (``/ sqrt(r)`` with rsLoRA) ``lora_parameters.scale``, absolute
which layers           any (``layers_to_transform``)                the last ``num_layers``
=====================  ==========================================  ===========================

Both compute ``y = W x + scale * B A x``. A missing transpose still loads for square matrices
and computes nonsense, which is why the tests compare logits, not shapes.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Literal

from traj.errors import AdapterFormatError

__all__ = ["detect_adapter_format", "mlx_to_peft", "peft_to_mlx"]

_PEFT_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<which>[AB])\.weight$")
_MLX_KEY = re.compile(r"^(?P<module>.+)\.lora_(?P<which>[ab])$")
_LAYER = re.compile(r"(?:^|\.)layers\.(?P<index>\d+)\.(?P<key>.+)$")


def detect_adapter_format(path: str | Path) -> Literal["peft", "mlx"]:
    """``peft`` or ``mlx``, from the files in the adapter directory ``path``."""
    path = Path(path)
    if (path / "adapter_model.safetensors").is_file():
        return "peft"
    if (path / "adapters.safetensors").is_file():
        return "mlx"
    raise AdapterFormatError(
        f"no adapter at {path}: expected adapter_model.safetensors (PEFT) or adapters.safetensors (mlx-lm)"
    )


def peft_to_mlx(src: str | Path, dst: str | Path, *, base_model: str | Path | None = None) -> Path:
    """Write the PEFT LoRA adapter at ``src`` as an mlx-lm adapter in ``dst``.

    mlx-lm puts LoRA on the last ``num_layers`` layers, so the adapter's layers must be the
    base model's last ones. The layer count comes from ``base_model`` (a model directory) or
    the adapter's ``base_model_name_or_path``; when neither is a local directory, the highest
    adapted layer is taken to be the last.
    """
    from safetensors.numpy import load_file, save_file

    src, dst = Path(src), Path(dst)
    config = _read_config(src, "adapter_model.safetensors")
    peft_type = config.get("peft_type", "LORA")
    if peft_type != "LORA" or config.get("use_dora"):
        raise AdapterFormatError(
            f"{src}: only plain LoRA converts to mlx-lm (this is {peft_type}, dora={config.get('use_dora')})"
        )
    if not isinstance(config.get("r"), int) or config["r"] < 1:
        raise AdapterFormatError(f"{src}: adapter_config.json needs the LoRA rank 'r' (got {config.get('r')!r})")
    rank = config["r"]
    alpha = float(config.get("lora_alpha", rank))
    scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    if config.get("rank_pattern") or config.get("alpha_pattern"):
        raise AdapterFormatError(f"{src}: per-module ranks or alphas (rank_pattern/alpha_pattern) have no mlx-lm form")
    _refuse_writing_over(src, dst, ("adapters.safetensors", "adapter_config.json"))
    tensors = load_file(src / "adapter_model.safetensors")
    weights, layers, keys = {}, set(), set()
    for name, tensor in tensors.items():
        match = _PEFT_KEY.match(name)
        if match is None:
            raise AdapterFormatError(f"{src}: unexpected tensor {name!r} in a LoRA adapter")
        module, which = match["module"], match["which"]
        layer = _LAYER.search(module)
        if layer is None:
            raise AdapterFormatError(f"{src}: LoRA on {module!r}, outside the transformer layers, has no mlx-lm form")
        if tensor.ndim != 2 or tensor.shape[0 if which == "A" else 1] != rank:
            raise AdapterFormatError(f"{src}: {name} has shape {tuple(tensor.shape)}, not rank r={rank}")
        layers.add(int(layer["index"]))
        keys.add(layer["key"])
        weights[f"{module}.lora_{which.lower()}"] = tensor.T.copy()  # A (r, in) -> (in, r); B (out, r) -> (r, out)
    _check_pairs(src, weights)
    total = _layer_count(base_model) or _layer_count(config.get("base_model_name_or_path"))
    num_layers = _suffix_length(src, layers, total)
    dst.mkdir(parents=True, exist_ok=True)
    save_file(weights, dst / "adapters.safetensors")
    mlx_config = {
        "fine_tune_type": "lora",
        "num_layers": num_layers,
        "lora_parameters": {
            "rank": rank,
            "scale": scale,
            "dropout": float(config.get("lora_dropout", 0.0)),
            "keys": sorted(keys),
        },
        "base_model": str(base_model) if base_model else config.get("base_model_name_or_path"),
    }
    (dst / "adapter_config.json").write_text(json.dumps(mlx_config, indent=2) + "\n")
    return dst


def mlx_to_peft(src: str | Path, dst: str | Path, *, base_model: str | Path | None = None) -> Path:
    """Write the mlx-lm LoRA adapter at ``src`` as a PEFT adapter in ``dst``.

    The scale becomes ``lora_alpha = scale * r``; ``layers_to_transform`` lists the layers
    the adapter covers. ``base_model`` (a hub id or directory) is what PEFT loads the adapter
    over; without it, the mlx-lm config's ``base_model`` is kept.
    """
    from safetensors.numpy import load_file, save_file

    src, dst = Path(src), Path(dst)
    config = _read_config(src, "adapters.safetensors")
    if config.get("fine_tune_type", "lora") != "lora":
        raise AdapterFormatError(f"{src}: only plain LoRA converts to PEFT (this is {config.get('fine_tune_type')})")
    parameters = config.get("lora_parameters") or {}
    if "scale" not in parameters or "rank" not in parameters:
        raise AdapterFormatError(f"{src}: lora_parameters needs 'rank' and 'scale' (mlx-lm's absolute scale)")
    rank, scale = int(parameters["rank"]), float(parameters["scale"])
    alpha = scale * rank
    _refuse_writing_over(src, dst, ("adapter_model.safetensors", "adapter_config.json"))
    tensors = load_file(src / "adapters.safetensors")
    weights, layers, modules = {}, set(), set()
    for name, tensor in tensors.items():
        match = _MLX_KEY.match(name)
        if match is None:
            raise AdapterFormatError(f"{src}: unexpected tensor {name!r} in a LoRA adapter")
        module, which = match["module"], match["which"]
        if tensor.ndim != 2 or tensor.shape[1 if which == "a" else 0] != rank:
            raise AdapterFormatError(f"{src}: {name} has shape {tuple(tensor.shape)}, not rank {rank}")
        layer = _LAYER.search(module)
        if layer is not None:
            layers.add(int(layer["index"]))
        modules.add(module.rsplit(".", 1)[-1])
        weights[f"base_model.model.{module}.lora_{which.upper()}.weight"] = tensor.T.copy()
    _check_pairs(src, tensors)
    dst.mkdir(parents=True, exist_ok=True)
    save_file(weights, dst / "adapter_model.safetensors", metadata={"format": "pt"})
    peft_config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": str(base_model) if base_model else config.get("base_model"),
        "r": rank,
        "lora_alpha": int(alpha) if float(alpha).is_integer() else alpha,
        "lora_dropout": float(parameters.get("dropout", 0.0)),
        "target_modules": sorted(modules),
        "layers_to_transform": sorted(layers) or None,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
    }
    (dst / "adapter_config.json").write_text(json.dumps(peft_config, indent=2) + "\n")
    return dst


def _read_config(path: Path, weights_file: str) -> dict:
    config_file = path / "adapter_config.json"
    if not config_file.is_file() or not (path / weights_file).is_file():
        raise AdapterFormatError(f"no adapter at {path}: adapter_config.json and {weights_file} are both needed")
    try:
        return json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise AdapterFormatError(f"{config_file} is not valid JSON: {exc}") from None


def _refuse_writing_over(src: Path, dst: Path, written: tuple[str, ...]) -> None:
    """A conversion reads its source whole and writes ``written`` into ``dst``: refuse a ``dst`` that would
    change the source (the same directory by any path, one inside it, or a file linked to one of its files)."""
    source, target = src.resolve(), dst.resolve()
    if target == source or source in target.parents:
        where = "is the source directory" if target == source else "is inside the source directory"
        raise AdapterFormatError(f"cannot convert {src} into {dst}: {dst} {where}; write it elsewhere")
    for name in written:
        out = dst / name
        if out.exists() and any(out.samefile(f) for f in src.iterdir() if f.is_file()):
            raise AdapterFormatError(f"cannot convert {src} into {dst}: {out} is a link to a file of the source")


def _layer_count(base_model: str | Path | None) -> int | None:
    """The base model's layer count, when ``base_model`` is a local model directory."""
    config_file = Path(base_model) / "config.json" if base_model else None
    if config_file is None or not config_file.is_file():
        return None
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError:
        return None
    config = config.get("text_config") or config  # multimodal checkpoints nest the language model's
    return int(config.get("num_hidden_layers") or 0) or None


def _check_pairs(src: Path, weights: dict) -> None:
    """Every adapted module needs both halves of its update."""
    halves: dict[str, list[str]] = {}
    for name in weights:
        module, half = name.rsplit(".", 1)
        halves.setdefault(module, []).append(half)
    for module, found in sorted(halves.items()):
        if len(found) != 2:
            raise AdapterFormatError(f"{src}: {module} has {found[0]} without its other half")


def _suffix_length(src: Path, layers: set[int], total: int | None) -> int:
    """mlx-lm puts LoRA on the last ``num_layers`` layers: the adapter's layers must be such a suffix."""
    if not layers:
        raise AdapterFormatError(f"{src}: the adapter holds no LoRA tensors")
    if total is not None and max(layers) >= total:
        raise AdapterFormatError(f"{src}: LoRA on layer {max(layers)}, but the base model has {total} layers")
    last = total - 1 if total else max(layers)
    expected = set(range(last - len(layers) + 1, last + 1))
    if layers != expected:
        where = f"of {total}" if total else "(the highest adapted layer taken as the model's last)"
        raise AdapterFormatError(
            f"{src}: LoRA on layers {_spans(layers)} {where}; mlx-lm applies LoRA to the last num_layers layers only"
        )
    return len(layers)


def _spans(layers: set[int]) -> str:
    """``{0, 1, 2, 5}`` -> ``0-2, 5``: readable in a one-line error."""
    ordered, spans = sorted(layers), []
    start = prev = ordered[0]
    for index in [*ordered[1:], None]:
        if index is not None and index == prev + 1:
            prev = index
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if index is not None:
            start = prev = index
    return ", ".join(spans)
