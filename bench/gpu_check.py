"""The device check: traj's SDFT on randomly initialised Llama-shaped bases, in bfloat16 on one GPU.

No download: each base is built from its config alone (1B: Llama-3.2-1B's shape, 8B:
Llama-3.1-8B's, both with the 128K vocabulary) with the tiny model's tokenizer, straight onto
the device in the run's dtype; the teacher is the same base with the EMA adapter. Per shape it
reports tokens/s, the seconds of each phase of a step, and peak GPU memory, then TRL's
``SDFTTrainer`` on the 1B shape where TRL is installed. The last line is JSON.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import time
from typing import Any

from train import prompts, run_traj, run_trl  # bench/train.py, this script's neighbour

__all__ = ["SHAPES", "gpu_check"]

SHAPES: dict[str, dict[str, Any]] = {
    "1b": {
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "vocab_size": 128256,
        "tie_word_embeddings": True,
    },
    "8b": {
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 128,
        "vocab_size": 128256,
        "tie_word_embeddings": False,
    },
    "test": {  # a few million parameters: the check's own smoke test on a CPU
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 32,
        "vocab_size": 8192,
        "tie_word_embeddings": True,
    },
}


def random_base(shape: str, tokenizer_dir: str, device: str) -> Any:
    """A randomly initialised Llama of ``shape`` on ``device`` (bfloat16 on a GPU, else float32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    sizes = dict(SHAPES[shape])
    sizes["vocab_size"] = max(sizes["vocab_size"], len(tokenizer))
    config = LlamaConfig(
        **sizes,
        max_position_embeddings=8192,
        rope_theta=500000.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        return AutoModelForCausalLM.from_config(config, dtype=dtype)


def gpu_check(
    tokenizer_dir: str, device: str, shapes: list[str], steps: int, batch_size: int, new_tokens: int
) -> dict[str, Any]:
    """Run traj (and TRL, where installed, on the first shape) on each shape; print and return the results."""
    import torch

    on_gpu = device.startswith("cuda")
    data = prompts((steps + 1) * batch_size)
    report: dict[str, Any] = {
        "bench": "train-device",
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "torch": torch.__version__,
        "steps": steps,
        "batch_size": batch_size,
        "new_tokens": new_tokens,
        "traj": {},
    }
    for shape in shapes:
        if on_gpu:
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        base = random_base(shape, tokenizer_dir, device)
        built = time.perf_counter() - started
        parameters = sum(p.numel() for p in base.parameters())
        result = run_traj(tokenizer_dir, data, steps, batch_size, new_tokens, device=device, base=base, warmup=1)
        result |= {
            "parameters_b": round(parameters / 1e9, 2),
            "build_seconds": round(built, 1),
            "tokens_per_s": round(result["tokens"] / result["seconds"], 1),
            "step_seconds": round(result["seconds"] / steps, 3),
        }
        report["traj"][shape] = result
        print(f"traj {shape}: {json.dumps(result)}", flush=True)
        del base
        gc.collect()
        if on_gpu:
            torch.cuda.empty_cache()
    report["trl"] = _trl(tokenizer_dir, device, shapes[0], data, steps, batch_size, new_tokens)
    print(json.dumps(report), flush=True)
    return report


def _trl(tokenizer_dir: str, device: str, shape: str, data: list[Any], steps: int, batch: int, new: int) -> Any:
    """TRL's SDFTTrainer on ``shape`` where trl and datasets are installed, else why not."""
    if importlib.util.find_spec("trl") is None or importlib.util.find_spec("datasets") is None:
        return {"skipped": "trl and datasets are not installed here (pip install 'traj[bench]')"}
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    try:
        base = random_base(shape, tokenizer_dir, device)
        result = run_trl(tokenizer_dir, data[: steps * batch], steps, batch, new, device=device, base=base)
    except Exception as exc:  # the baseline is best effort: report why it could not run
        return {"shape": shape, "error": f"{type(exc).__name__}: {exc}"[:500]}
    return result | {"shape": shape, "tokens_per_s": round(result["tokens"] / result["seconds"], 1)}
