"""The ``transformers`` backend: any local Hugging Face causal LM, with PEFT adapters hot-swapped.

The base model is loaded once. Adapters are added to one ``PeftModel`` under their names and
switched with ``set_adapter``; the bare base runs inside ``disable_adapter()``. Nothing is
merged into the base weights, so switching back gives exactly the earlier outputs.
"""

from __future__ import annotations

import contextlib
import inspect
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traj.errors import PolicyError, one_line
from traj.policy._adapters import LoadedAdapters
from traj.policy._base import Completion, Generation, TokenText, emit_token, model_text, should_stop
from traj.policy._constrain import Grammars
from traj.prompt import context_window_of

if TYPE_CHECKING:
    from traj.policy._constrain import TokenConstraint
    from traj.prompt import Prompt

__all__ = ["TransformersPolicy"]


class TransformersPolicy:
    """A local causal LM on CPU or CUDA through transformers, with any number of PEFT adapters."""

    backend = "transformers"
    constrains_output = True
    """A ``response_format`` is enforced token by token (:mod:`traj.policy._constrain`, llguidance)."""

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
        # transformers 5.2x renamed the KV cache argument (and its output) to ``cache`` and warns on the old name
        self._cache_name = "cache" if "cache" in inspect.signature(self.base.forward).parameters else "past_key_values"
        self._loaded: LoadedAdapters[str] = LoadedAdapters()  # name -> PEFT directory
        self._grammars: Grammars | None = None  # compiled on the first constrained generation

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
        return self.complete(Completion.of_prompt(prompt, max_new_tokens=max_new_tokens, temperature=temperature))

    def prompt_tokens(self, completion: Completion) -> int:
        return self.count_tokens(model_text(self.tokenizer, completion))

    def complete(self, completion: Completion) -> Generation:
        """Token by token with the KV cache: each token is streamed, checked for a stop, and reported with
        the log probabilities of the untempered distribution, as OpenAI's API reports them. Under a
        ``response_format`` the tokens it forbids are masked first, so the probabilities are those of
        the constrained distribution (renormalised over the allowed tokens): what was actually picked from."""
        import torch

        prompt_text = model_text(self.tokenizer, completion)
        ids = self.tokenizer(prompt_text, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.device)
        sampler = _Sampler(completion, self.device)
        stops = _eos_ids(self.tokenizer, self._model)
        constraint = self._constraint(completion, stops)
        made = TokenText(self.tokenizer)
        logprobs: list[float] = []
        top: list[list[tuple[str, float]]] = []
        pieces: list[str] = []
        started = time.perf_counter()
        with torch.inference_mode(), self._adapter_scope():
            step, cache = ids, None
            for _ in range(completion.max_new_tokens):
                output = self._model(input_ids=step, use_cache=True, **{self._cache_name: cache})
                cache = output[self._cache_name]
                scores = output.logits[0, -1].float()
                if constraint is not None:
                    constraint.mask_torch(scores)
                distribution = torch.log_softmax(scores, dim=-1)
                token = sampler.pick(scores)
                logprobs.append(float(distribution[token]))
                if completion.top_logprobs:
                    best = torch.topk(distribution, min(completion.top_logprobs, distribution.shape[-1]))
                    top.append([(self.tokenizer.decode([i]), float(v)) for v, i in zip(*best, strict=True)])
                if token in stops:
                    pieces.append("")
                    break
                if constraint is not None:
                    constraint.accept(token)
                pieces.append(made.add(token))
                emit_token(pieces[-1])
                if should_stop():  # a server's client left, it shuts down, or a stop string appeared
                    break
                step = torch.tensor([[token]], device=self.device)
        if rest := made.rest():  # a generation that ended inside a character
            pieces[len(made.tokens) - 1] += rest
            emit_token(rest)
        seconds = time.perf_counter() - started
        text = self.tokenizer.decode(made.tokens, skip_special_tokens=True)
        return Generation(text, ids.shape[1], len(made.tokens), seconds, logprobs, pieces, top)

    def _constraint(self, completion: Completion, stops: set[int]) -> TokenConstraint | None:
        if completion.response_format is None:
            return None
        if self._grammars is None:
            self._grammars = Grammars(self.tokenizer, int(self.base.config.vocab_size), stops)
        return self._grammars.constraint(completion.response_format)

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


class _Sampler:
    """Picks the next token as a :class:`Completion` asks: greedy at temperature 0, else from the
    tempered distribution cut to its ``top_p`` nucleus, drawn with the completion's own seeded
    generator (so a seed reproduces a generation without touching torch's global random state)."""

    def __init__(self, completion: Completion, device: str) -> None:
        import torch

        self.temperature = completion.temperature
        self.top_p = completion.top_p
        self.generator = torch.Generator(device=device)
        if completion.seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(completion.seed)

    def pick(self, scores: Any) -> int:
        import torch

        if self.temperature <= 0:
            return int(torch.argmax(scores))
        probabilities = torch.softmax(scores / self.temperature, dim=-1)
        if self.top_p < 1.0:
            ranked, order = torch.sort(probabilities, descending=True)
            before = torch.cumsum(ranked, dim=-1) - ranked  # mass of the more likely tokens
            ranked[before >= self.top_p] = 0.0  # the most likely token always stays
            probabilities = torch.zeros_like(probabilities).scatter(0, order, ranked)
        return int(torch.multinomial(probabilities, 1, generator=self.generator))


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    """Tokens that end a generation: the tokenizer's end of sequence and the model's generation config's."""
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    extra = configured if isinstance(configured, list) else [configured]
    return {token for token in (tokenizer.eos_token_id, *extra) if token is not None}


def _torch_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    try:
        return getattr(torch, dtype)
    except AttributeError:
        raise PolicyError(f"unknown dtype {dtype!r}; use auto, float32, bfloat16 or float16") from None
