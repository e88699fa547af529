"""The ``transformers`` backend: any local Hugging Face causal LM, with PEFT adapters hot-swapped.

The base model is loaded once. Adapters are added to one ``PeftModel`` under their names and
switched with ``set_adapter``; the bare base runs inside ``disable_adapter()``. Nothing is
merged into the base weights, so switching back gives exactly the earlier outputs.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traj.errors import PolicyError, one_line
from traj.policy._adapters import LoadedAdapters
from traj.policy._base import Generation, should_stop
from traj.prompt import chat_text, context_window_of, token_pieces

if TYPE_CHECKING:
    from traj.prompt import Prompt

__all__ = ["TransformersPolicy"]


class TransformersPolicy:
    """A local causal LM on CPU or CUDA through transformers, with any number of PEFT adapters."""

    backend = "transformers"

    def __init__(
        self,
        model_dir: str | Path,
        *,
        device: str | None = None,
        dtype: str = "auto",
        context_window: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.model_id = str(model_dir)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
            self.base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=_torch_dtype(dtype, self.device)).to(
                self.device
            )
        except (OSError, ValueError) as exc:
            raise PolicyError(f"cannot load the model at {model_dir}: {one_line(exc)}") from None
        self.base.eval()
        self.base_loads = 1
        self.context_window = context_window or context_window_of(self.base.config, self.tokenizer)
        self.tokenizer.model_max_length = 1 << 30  # prompts are budgeted by the caller: no warning per count
        self._model: Any = self.base  # becomes a PeftModel with the first adapter
        self._loaded: LoadedAdapters[str] = LoadedAdapters()  # name -> PEFT directory

    # ------------------------------------------------------------------ adapters

    @property
    def adapters(self) -> list[str]:
        return self._loaded.names

    @property
    def active_adapter(self) -> str | None:
        return self._loaded.active

    def load_adapter(self, name: str, path: str | Path) -> None:
        from peft import PeftModel

        self._loaded.check_free(name)
        path = Path(path)
        if not (path / "adapter_config.json").is_file():
            raise PolicyError(f"no PEFT adapter at {path} (adapter_config.json is missing)")
        try:
            with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in 5.x
                warnings.simplefilter("ignore", FutureWarning)
                if self._model is self.base:
                    self._model = PeftModel.from_pretrained(self.base, path, adapter_name=name, is_trainable=False)
                else:
                    self._model.load_adapter(path, adapter_name=name, is_trainable=False)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise PolicyError(f"cannot load the adapter at {path}: {one_line(exc)}") from None
        self._model.eval()
        self._loaded.add(name, str(path))
        self.set_adapter(name)

    def set_adapter(self, name: str | None) -> None:
        if name is not None:
            self._loaded.require(name)
            self._model.set_adapter(name)
        self._loaded.active = name

    def unload_adapter(self, name: str) -> None:
        self._loaded.remove(name)
        if self._loaded.active == name:
            self._loaded.active = None
        if self._loaded.by_name:
            if self._model.active_adapter == name:
                self._model.set_adapter(next(iter(self._loaded.by_name)))
            self._model.delete_adapter(name)
        else:  # the last one: take the LoRA layers out, the base weights were never touched
            self._model = self._model.unload()
            self.base = self._model

    # ------------------------------------------------------------------ generation

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, prompt: Prompt, *, max_new_tokens: int = 64, temperature: float = 0.0) -> Generation:
        import torch

        encoded = self.tokenizer(chat_text(self.tokenizer, prompt.text), return_tensors="pt", add_special_tokens=False)
        input_ids = encoded["input_ids"].to(self.device)
        options: dict[str, Any] = {"do_sample": temperature > 0}
        if temperature > 0:
            options["temperature"] = temperature
        started = time.perf_counter()
        with torch.inference_mode(), self._adapter_scope():
            output = self._model.generate(
                input_ids=input_ids,
                attention_mask=encoded["attention_mask"].to(self.device),
                max_new_tokens=max_new_tokens,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                eos_token_id=self.tokenizer.eos_token_id,
                output_scores=True,
                return_dict_in_generate=True,
                top_p=None,
                top_k=None,
                stopping_criteria=[_stop_requested],
                **options,
            )
        seconds = time.perf_counter() - started
        new_tokens = output.sequences[0, input_ids.shape[1] :]
        logprobs = [
            float(torch.log_softmax(scores[0].float(), dim=-1)[token])
            for scores, token in zip(output.scores, new_tokens, strict=False)
        ]
        pieces = token_pieces(self.tokenizer, new_tokens.tolist())
        if len(new_tokens) and new_tokens[-1] == self.tokenizer.eos_token_id:
            new_tokens = new_tokens[:-1]
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        return Generation(text, input_ids.shape[1], len(new_tokens), seconds, logprobs, pieces[: len(logprobs)])

    def logits(self, text: str) -> Any:
        """Next-token logits at every position of ``text`` through the active adapter (tests, checks)."""
        import torch

        ids = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.device)
        with torch.inference_mode(), self._adapter_scope():
            return self._model(input_ids=ids).logits[0].float().cpu()

    def _adapter_scope(self) -> contextlib.AbstractContextManager[Any]:
        if self._loaded.active is None and self._model is not self.base:
            return self._model.disable_adapter()
        return contextlib.nullcontext()

    def close(self) -> None:
        self._model = self.base = None  # type: ignore[assignment]
        self._loaded.by_name.clear()


def _stop_requested(input_ids: Any, scores: Any, **kwargs: Any) -> Any:
    """A stopping criterion for ``generate``: every sequence is done once :func:`should_stop` says so."""
    import torch

    return torch.full((input_ids.shape[0],), should_stop(), dtype=torch.bool, device=input_ids.device)


def _torch_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    try:
        return getattr(torch, dtype)
    except AttributeError:
        raise PolicyError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None
