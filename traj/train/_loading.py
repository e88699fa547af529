"""The frozen base model of a run, in its dtype on its device, with the student and teacher adapters.

One base serves both adapters (the teacher is the same base with the EMA adapter active, never
a second copy). The base weights are frozen in the run's dtype, or in 4 bits (QLoRA) on
request; every LoRA factor is float32 whatever the base's dtype, so small updates are not
rounded away and the optimizer state (made from the factors) is float32 too.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traj.errors import TrainingError

if TYPE_CHECKING:
    from traj.train._config import SdftConfig
    from traj.train._device import Placement

__all__ = ["load_adapted_model"]


def load_adapted_model(
    model_dir: str | Path, config: SdftConfig, placement: Placement, *, base: Any = None
) -> tuple[Any, Any]:
    """``(tokenizer, PEFT model)``: the base from ``model_dir`` (or the in-memory ``base``, with
    the tokenizer from ``model_dir``) on ``placement``, adapters ``student`` (active) and ``teacher``.

    Raises :class:`TrainingError` for a model that cannot load, has none of the target modules,
    or a quantization this machine cannot do.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if base is None:
            base = AutoModelForCausalLM.from_pretrained(model_dir, **_load_options(config, placement))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot load the base model at {model_dir}: {exc}") from None
    tokenizer.model_max_length = 1 << 30
    if config.quantize is None:
        base = base.to(device=placement.device, dtype=placement.dtype)
    base.requires_grad_(False)
    _disable_dropout(base)
    if config.gradient_checkpointing:
        # non-reentrant: the frozen base's inputs need no gradient for the LoRA factors to get theirs
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    present = {name.rsplit(".", 1)[-1] for name, _ in base.named_modules()}
    targets = [m for m in config.target_modules if m in present]
    if not targets:
        raise TrainingError(f"none of the target modules {list(config.target_modules)} is in the model")
    with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in 5.x
        warnings.simplefilter("ignore", FutureWarning)
        model = get_peft_model(
            base,
            LoraConfig(r=config.rank, lora_alpha=config.lora_alpha, target_modules=targets, lora_dropout=0.0),
            adapter_name="student",
        )
    teacher_rank = config.teacher_rank or 2 * config.rank
    model.add_adapter("teacher", LoraConfig(r=teacher_rank, lora_alpha=teacher_rank, target_modules=targets))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".student." in name or ".teacher." in name:
                parameter.data = parameter.data.to(device=placement.device, dtype=torch.float32)
    model.set_adapter("student")
    return tokenizer, model


def _load_options(config: SdftConfig, placement: Placement) -> dict[str, Any]:
    """``from_pretrained``'s arguments: the dtype, and the 4-bit quantization where asked for."""
    if config.quantize is None:  # straight onto an accelerator: a 12B base never sits in host memory first
        return {"dtype": placement.dtype} | ({} if placement.on_cpu else {"device_map": {"": placement.device}})
    if placement.device.type != "cuda":
        raise TrainingError(f"--quantize 4bit needs a CUDA device (bitsandbytes' kernels), not {placement.device}")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise TrainingError("--quantize 4bit needs bitsandbytes: pip install bitsandbytes")
    from transformers import BitsAndBytesConfig

    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=placement.dtype,
    )
    return {"dtype": placement.dtype, "quantization_config": quantization, "device_map": {"": placement.device}}


def _disable_dropout(model: Any) -> None:
    """Switch every dropout of ``model`` off, as TRL's ``SDFTTrainer`` does by default.

    The step samples its rollouts with the graph it differentiates (the shared prefill) and
    scores them with a teacher in the same mode: with dropout on, the samples would come from
    a randomly thinned policy and the teacher's targets would be noisy. Covers ``nn.Dropout``
    modules and the float ``attention_dropout`` that transformers' attention layers read.
    """
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        if isinstance(getattr(module, "attention_dropout", None), float):
            module.attention_dropout = 0.0
