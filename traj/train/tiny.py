"""Small local models: a Llama-style causal LM of a few million parameters, built here.

No model can be downloaded on the machines traj is tested on, so the tests and the bundled
demo use a model the project builds itself: a byte-level BPE tokenizer trained locally with
``tokenizers``, a Llama config (head_dim 64: vLLM's CPU attention rejects 16), and weights,
saved as an ordinary Hugging Face directory that ``AutoModelForCausalLM.from_pretrained``,
``mlx_lm.load`` and vLLM load exactly as they load a real checkpoint.

:func:`init_tiny` pretrains it briefly on synthetic browser decisions (``_synthetic``), most
of them with a demonstration of the same made-up site in context, so that it follows the
action format and, given a demonstration, the demonstrated conventions: the in-context
ability SDFT's teacher needs. :func:`evaluate_tiny` measures both on sites it never saw.
Built once per (shape, generator, recipe, seed, steps) and cached.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from traj.agent import RULES, ParseError, parse_action

__all__ = [
    "CHAT_TEMPLATE",
    "DEFAULT_STEPS",
    "EOS",
    "SPECIAL_TOKENS",
    "TinyConfig",
    "TinyReport",
    "build_tokenizer",
    "build_untrained",
    "default_tiny_path",
    "evaluate_tiny",
    "init_tiny",
]

DEFAULT_STEPS = 400
"""Optimizer steps of the default build (a few minutes on 2 CPU cores)."""

EOS = "<|end|>"
SPECIAL_TOKENS = ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", EOS]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_TRAIN_FAMILIES = range(0, 1_000_000)
_EVAL_FAMILIES = range(10_000_000, 11_000_000)
"""Held-out made-up sites: evaluation never sees a family (layout, conventions) trained on."""
_MARKER = "traj-tiny.json"


@dataclass(frozen=True)
class _Recipe:
    """How the tiny model is pretrained; part of the cache key."""

    tokens_per_batch: int = 4096
    """Padded tokens per optimizer step (batches group prompts of similar length)."""
    lr: float = 1e-3
    warmup: float = 0.05
    answer_weight: float = 1.0
    history_weight: float = 1.0
    """The actions so far: each is an earlier decision of the same episode (values from the goal,
    with a demonstration copied from it), so one prompt teaches several decisions for the compute
    of one."""
    prompt_weight: float = 0.05
    """Everything else in the prompt: teaches its format, says nothing about the decision."""
    tokenizer_samples: int = 1500


_RECIPE = _Recipe()


class TinyConfig:
    """Shape of the tiny model: small enough to train on 2 CPU cores in minutes."""

    vocab_size = 2048
    hidden_size = 256
    intermediate_size = 768
    num_hidden_layers = 4
    num_attention_heads = 4
    num_key_value_heads = 4
    head_dim = 64
    max_position_embeddings = 2048
    rope_theta = 10000.0

    @classmethod
    def llama_config(cls, tokenizer_vocab: int, *, pad_id: int, eos_id: int) -> dict[str, object]:
        """The ``config.json`` contents for a tokenizer of ``tokenizer_vocab`` tokens."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": tokenizer_vocab,
            "hidden_size": cls.hidden_size,
            "intermediate_size": cls.intermediate_size,
            "num_hidden_layers": cls.num_hidden_layers,
            "num_attention_heads": cls.num_attention_heads,
            "num_key_value_heads": cls.num_key_value_heads,
            "head_dim": cls.head_dim,
            "max_position_embeddings": cls.max_position_embeddings,
            "rope_theta": cls.rope_theta,
            "rms_norm_eps": 1e-5,
            "hidden_act": "silu",
            "tie_word_embeddings": True,
            "bos_token_id": None,
            "eos_token_id": eos_id,
            "pad_token_id": pad_id,
            "torch_dtype": "float32",
        }


@dataclass(frozen=True)
class TinyReport:
    """How well the tiny model decides on held-out synthetic sites (families never trained on)."""

    n: int
    """Decisions per condition."""
    valid_action_rate: float
    """Share of all answers (every condition) that parse as an action."""
    accuracy_without_demo: float
    """Exact next-action match, the agent's prompt alone."""
    accuracy_with_demo: float
    """The same decisions with a demonstration of the same site with other values in context."""
    accuracy_with_own_demo: float
    """The same decisions with the demonstration of the episode itself (what SDFT's teacher sees)."""


def build_tokenizer(corpus: list[str], *, vocab_size: int = TinyConfig.vocab_size) -> Any:
    """Train a byte-level BPE tokenizer on ``corpus``; returns a ``PreTrainedTokenizerFast``.

    Digits are single tokens, so a number is spelled the same wherever it appears (in a goal
    after a space, in an action's JSON after a quote) and copying it is token for token.
    Deterministic for a given corpus: BPE merges are ordered by count, then lexically.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS,
        pad_token="<|pad|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=TinyConfig.max_position_embeddings,
    )


def build_untrained(path: str | Path, *, seed: int = 0, corpus: list[str] | None = None) -> Path:
    """Write a randomly initialised tiny model (tokenizer, config, weights) to ``path``.

    The tokenizer is trained on ``corpus``, by default a few hundred synthetic prompts (about
    a second), so even an untrained model tokenizes prompts as the pretrained one does.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(corpus or _corpus(seed, 300))
    config = TinyConfig.llama_config(len(tokenizer), pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**config))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    _write_config(path, config)
    return path


def default_tiny_path(seed: int = 0, steps: int = DEFAULT_STEPS) -> Path:
    """Where :func:`init_tiny` caches the model for ``seed`` and ``steps``: ``$TRAJ_CACHE`` or ``~/.cache/traj``."""
    from traj.train._synthetic import GENERATOR_VERSION

    shape = {k: v for k, v in vars(TinyConfig).items() if isinstance(v, int | float | str)}
    key = json.dumps([shape, GENERATOR_VERSION, asdict(_RECIPE), seed, steps, RULES], sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    root = Path(os.environ.get("TRAJ_CACHE") or Path.home() / ".cache" / "traj")
    return root / f"tiny-{digest}"


def init_tiny(
    path: str | Path | None = None, *, seed: int = 0, steps: int = DEFAULT_STEPS, progress: bool = True
) -> Path:
    """Build (or reuse) the pretrained tiny model; returns its directory.

    The directory is complete or absent: the model is built in a temporary directory next to
    it and renamed into place, with a marker file (the build's summary) written last; a
    directory with the marker is returned as it is. Deterministic for a seed on one machine.
    """
    target = Path(path) if path is not None else default_tiny_path(seed, steps)
    if (target / _MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        summary = _pretrain(scratch, seed=seed, steps=steps, progress=progress)
        _write_atomic(scratch / _MARKER, json.dumps(summary, indent=2) + "\n")
        if (target / _MARKER).is_file():  # another process finished first: keep theirs
            return target
        if target.exists():
            shutil.rmtree(target)  # a leftover without the marker
        scratch.replace(target)
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def evaluate_tiny(path: str | Path, *, n: int = 200, seed: int = 12345) -> TinyReport:
    """Greedy answers of the model at ``path`` on ``n`` held-out decisions, each without a
    demonstration, with one of the same site (other values) and with the episode's own."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from traj.train._synthetic import decisions

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    samples = {
        mode: list(decisions(seed, n, families=_EVAL_FAMILIES, demo=mode))  # type: ignore[arg-type]
        for mode in ("none", "other", "own")
    }
    valid, correct = 0, {}
    for mode, batch in samples.items():
        answers = _greedy(model, tokenizer, [sample.prompt for sample in batch])
        right = 0
        for sample, answer in zip(batch, answers, strict=True):
            try:
                action = parse_action(answer).action
            except ParseError:
                continue
            valid += 1
            right += action.to_json() == sample.target
        correct[mode] = right / n
    return TinyReport(n, valid / (3 * n), correct["none"], correct["other"], correct["own"])


# ----------------------------------------------------------------------------- pretraining


def _pretrain(path: Path, *, seed: int, steps: int, progress: bool) -> dict[str, object]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    from traj.train._synthetic import decisions

    transformers_logging.disable_progress_bar()
    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    started = time.perf_counter()
    recipe = _RECIPE
    tokenizer_corpus = _corpus(seed, recipe.tokenizer_samples)
    build_untrained(path, seed=seed, corpus=tokenizer_corpus)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.train()
    stream = decisions(seed, 1 << 30, families=_TRAIN_FAMILIES)
    batches = _batches(tokenizer, stream, steps, recipe, random.Random(f"batches-{seed}"))
    prepared = time.perf_counter() - started
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, int(steps * recipe.warmup))

    def lr_at(step: int) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, steps))))
        return min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * cosine)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    autocast = _bf16_supported()
    tokens_seen = 0
    loss_value = float("nan")
    with _Progress(progress, steps) as advance:
        for ids, weights in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                logits = model(input_ids=ids).logits[:, :-1]
            losses = torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
            ).view(ids.shape[0], -1)
            weight = weights[:, 1:]
            loss = (losses * weight).sum() / weight.sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            tokens_seen += int(ids.numel())
            loss_value = loss.item()
            advance(loss_value)
    model.eval()
    model.save_pretrained(path)
    _write_config(
        path, TinyConfig.llama_config(len(tokenizer), pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id)
    )
    seconds = time.perf_counter() - started
    return {
        "seed": seed,
        "steps": steps,
        "tokens": tokens_seen,
        "seconds": round(seconds, 1),
        "prepare_seconds": round(prepared, 1),
        "tokens_per_second": round(tokens_seen / max(1e-9, seconds - prepared)),
        "bf16_autocast": autocast,
        "final_loss": round(loss_value, 4),
        "recipe": asdict(_RECIPE),
    }


def _corpus(seed: int, count: int) -> list[str]:
    """Prompts and answers to train the tokenizer on (the rules first, so they merge well)."""
    from traj.train._synthetic import decisions

    samples = decisions(seed, count, families=_TRAIN_FAMILIES)
    return [RULES] + [f"{sample.prompt}\n{sample.target}" for sample in samples]


def _batches(tokenizer: Any, stream: Any, steps: int, recipe: _Recipe, rng: random.Random) -> list[tuple[Any, Any]]:
    """``steps`` batches of padded ids and loss weights, each of prompts of similar length.

    Samples are encoded in pools of 256; a pool sorted by length is cut into batches of at
    most ``tokens_per_batch`` padded tokens, and the batches are shuffled.
    """
    import torch

    out: list[tuple[Any, Any]] = []
    while len(out) < steps:
        pool = [_encode(tokenizer, next(stream), recipe) for _ in range(256)]
        pool.sort(key=lambda row: len(row[0]))
        group: list[tuple[list[int], list[float]]] = []
        made = []
        for row in pool:
            width = max([len(row[0])] + [len(r[0]) for r in group])
            if group and width * (len(group) + 1) > recipe.tokens_per_batch:
                made.append(group)
                group = []
            group.append(row)
        made.append(group)
        rng.shuffle(made)
        for group in made:
            width = max(len(ids) for ids, _ in group)
            pad = tokenizer.pad_token_id
            ids = torch.tensor([row + [pad] * (width - len(row)) for row, _ in group])
            weights = torch.tensor([w + [0.0] * (width - len(w)) for _, w in group])
            out.append((ids, weights))
    return out[:steps]


def _encode(tokenizer: Any, sample: Any, recipe: _Recipe) -> tuple[list[int], list[float]]:
    """Ids of ``chat(prompt) + target + EOS`` and a loss weight per token (see :class:`_Recipe`)."""
    from traj.policy._transformers import chat_text

    chat = chat_text(tokenizer, sample.prompt)
    encoded = tokenizer(chat, add_special_tokens=False, return_offsets_mapping=True)
    start = chat.index("Actions so far:\n")
    end = chat.index("\nURL: ", start)
    history = recipe.history_weight
    weights = [
        history if start <= begin and stop <= end else recipe.prompt_weight for begin, stop in encoded["offset_mapping"]
    ]
    answer = tokenizer(sample.target + EOS, add_special_tokens=False)["input_ids"]
    return encoded["input_ids"] + answer, weights + [recipe.answer_weight] * len(answer)


def _greedy(model: Any, tokenizer: Any, prompts: list[str], *, batch: int = 16, max_new_tokens: int = 48) -> list[str]:
    """Greedy completions of ``prompts`` as the agent asks (one user turn), batched by length."""
    import torch

    from traj.policy._transformers import chat_text

    texts = [chat_text(tokenizer, prompt) for prompt in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers = [""] * len(texts)
    tokenizer.padding_side = "left"
    for first in range(0, len(order), batch):
        chunk = order[first : first + batch]
        encoded = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                top_p=None,
                top_k=None,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        for i, row in zip(chunk, output[:, encoded["input_ids"].shape[1] :], strict=True):
            answers[i] = tokenizer.decode(row, skip_special_tokens=True)
    return answers


def _bf16_supported() -> bool:
    """bfloat16 autocast pays on CPUs with native bf16 (AVX512-BF16, AMX); elsewhere it is emulated and slow."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and torch.backends.cpu.get_cpu_capability() in (
            "AVX512",
            "AMX",
        )
    except (AttributeError, RuntimeError):
        return False


class _Progress:
    """A rich progress bar over the optimizer steps (or nothing)."""

    def __init__(self, show: bool, steps: int) -> None:
        self.show, self.steps = show, steps

    def __enter__(self) -> Any:
        if not self.show:
            return lambda loss: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn("pretraining the tiny model"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.3f}"),
            TimeRemainingColumn(),
            transient=True,
        )
        self.bar.__enter__()
        task = self.bar.add_task("pretrain", total=self.steps, loss=float("nan"))
        return lambda loss: self.bar.update(task, advance=1, loss=loss)

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self.bar.__exit__(*exc)


def _write_config(path: Path, config: dict[str, object]) -> None:
    """``config.json`` with ``rope_theta`` at the top level, where mlx-lm reads it."""
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
