"""Small local models: a Llama-style causal LM of a few million parameters, built here.

No model can be downloaded on the machines traj is tested on, so the tests and the bundled
demo use a model the project builds itself: a byte-level BPE tokenizer trained locally with
``tokenizers``, a Llama config (head_dim 64: vLLM's CPU attention rejects 16), and weights,
saved as an ordinary Hugging Face directory that ``AutoModelForCausalLM.from_pretrained``,
``mlx_lm.load`` and vLLM load exactly as they load a real checkpoint.

:func:`init_tiny` pretrains it briefly on synthetic browser decisions (``_synthetic``), about
half of them with a demonstration of the same made-up site in context, so that it can follow
the action format and, given a demonstration, the demonstrated conventions: the in-context
ability SDFT's teacher needs. Built once per (shape, generator, seed, steps) and cached.
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
from dataclasses import dataclass
from pathlib import Path

from traj.agent import RULES, ParseError, parse_action

__all__ = [
    "CHAT_TEMPLATE",
    "EOS",
    "SPECIAL_TOKENS",
    "TinyConfig",
    "TinyReport",
    "build_tokenizer",
    "build_untrained",
    "evaluate_tiny",
    "init_tiny",
]

DEFAULT_STEPS = 500
_TRAIN_FAMILIES = range(0, 4000)
_EVAL_FAMILIES = range(100_000, 101_000)
_BATCH = 8
_PROMPT_WEIGHT = 0.1
"""Loss weight of prompt tokens: the answer teaches the decision, the prompt its format."""
_MARKER = "traj-tiny.json"

EOS = "<|end|>"
SPECIAL_TOKENS = ["<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", EOS]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


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


def build_tokenizer(corpus: list[str], *, vocab_size: int = TinyConfig.vocab_size):
    """Train a byte-level BPE tokenizer on ``corpus``; returns a ``PreTrainedTokenizerFast``.

    Deterministic for a given corpus: BPE merges are ordered by count, then lexically.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
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
    """Write a randomly initialised tiny model (tokenizer, config, weights) to ``path``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(corpus or [RULES])
    config = TinyConfig.llama_config(len(tokenizer), pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**config))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n")  # rope_theta at top level (mlx-lm)
    return path


@dataclass(frozen=True)
class TinyReport:
    """How well the tiny model decides on held-out synthetic pages (made-up sites never trained on)."""

    n: int
    valid_action_rate: float
    """Share of answers that parse as an action."""
    accuracy_without_demo: float
    """Exact next-action match, prompt without a demonstration."""
    accuracy_with_demo: float
    """The same decisions with a demonstration of the same site (other values) in context."""


def default_tiny_path(seed: int = 0, steps: int = DEFAULT_STEPS) -> Path:
    """Where :func:`init_tiny` caches the model for ``seed`` and ``steps``."""
    from traj.train._synthetic import GENERATOR_VERSION

    shape = {k: v for k, v in vars(TinyConfig).items() if not k.startswith("_") and not callable(v)}
    key = json.dumps(
        [shape, GENERATOR_VERSION, seed, steps, _BATCH, _PROMPT_WEIGHT, RULES], sort_keys=True, default=str
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    root = Path(os.environ.get("TRAJ_CACHE") or Path.home() / ".cache" / "traj")
    return root / f"tiny-{digest}"


def init_tiny(
    path: str | Path | None = None, *, seed: int = 0, steps: int = DEFAULT_STEPS, progress: bool = True
) -> Path:
    """Build (or reuse) the pretrained tiny model; returns its directory.

    The directory is complete or absent: the model is built in a temporary directory next to
    it and renamed into place, with a marker file written last. Deterministic for a seed.
    """
    target = Path(path) if path is not None else default_tiny_path(seed, steps)
    if (target / _MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
    try:
        report = _pretrain(scratch, seed=seed, steps=steps, progress=progress)
        (scratch / _MARKER).write_text(json.dumps(report, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _pretrain(path: Path, *, seed: int, steps: int, progress: bool) -> dict[str, object]:
    import torch
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    from transformers import AutoModelForCausalLM

    from traj.train._synthetic import decisions

    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    samples = list(decisions(seed, steps * _BATCH, families=_TRAIN_FAMILIES))
    corpus = [RULES] + [sample.prompt + sample.target for sample in samples[:3000]]
    build_untrained(path, seed=seed, corpus=corpus)
    model = AutoModelForCausalLM.from_pretrained(path)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01, betas=(0.9, 0.98))
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda i: min(1.0, (i + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, i / max(1, steps)))),
    )
    started = time.perf_counter()
    tokens_seen = 0
    columns = [
        TextColumn("pretraining the tiny model"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("pretrain", total=steps, loss=float("nan"))
        for step in range(steps):
            batch = samples[step * _BATCH : (step + 1) * _BATCH]
            input_ids, weights = _encode_batch(tokenizer, [(s.prompt, s.target) for s in batch])
            logits = model(input_ids=input_ids).logits[:, :-1].float()
            losses = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1), reduction="none"
            ).view(input_ids.shape[0], -1)
            weight = weights[:, 1:]
            loss = (losses * weight).sum() / weight.sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            tokens_seen += int(input_ids.numel())
            bar.update(task, advance=1, loss=loss.item())
    model.eval()
    model.save_pretrained(path)
    (path / "config.json").write_text(
        json.dumps(
            TinyConfig.llama_config(len(tokenizer), pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id),
            indent=2,
        )
        + "\n"
    )
    seconds = time.perf_counter() - started
    return {
        "seed": seed,
        "steps": steps,
        "tokens": tokens_seen,
        "seconds": round(seconds, 1),
        "final_loss": float(loss),
    }


def _encode_batch(tokenizer, pairs: list[tuple[str, str]]):
    """Right-padded ids of ``chat(prompt) + target + EOS`` and per-token loss weights."""
    import torch

    from traj.policy._transformers import chat_text

    rows, weights = [], []
    for prompt, target in pairs:
        head = tokenizer(chat_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]
        answer = tokenizer(target + EOS, add_special_tokens=False)["input_ids"]
        rows.append(head + answer)
        weights.append([_PROMPT_WEIGHT] * len(head) + [1.0] * len(answer))
    width = max(len(row) for row in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([row + [pad] * (width - len(row)) for row in rows])
    weight = torch.tensor([w + [0.0] * (width - len(w)) for w in weights])
    return ids, weight


def evaluate_tiny(path: str | Path, *, n: int = 200, seed: int = 12345) -> TinyReport:
    """Greedy answers of the model at ``path`` on ``n`` held-out decisions, with and without a demo."""
    from traj.agent import Prompt
    from traj.policy import TransformersPolicy
    from traj.train._synthetic import decisions

    policy = TransformersPolicy(path)
    plain = list(decisions(seed, n, families=_EVAL_FAMILIES, demo_share=0.0))
    shown = list(decisions(seed, n, families=_EVAL_FAMILIES, demo_share=1.0))
    valid = correct_plain = correct_demo = 0
    for bare, with_demo in zip(plain, shown, strict=True):
        for sample, is_demo in ((bare, False), (with_demo, True)):
            text = policy.generate(Prompt(sample.prompt, 0), max_new_tokens=48).text
            try:
                action = parse_action(text).action
            except ParseError:
                continue
            valid += 1
            if action.to_json() == sample.target:
                correct_demo += is_demo
                correct_plain += not is_demo
    policy.close()
    return TinyReport(n, valid / (2 * n), correct_plain / n, correct_demo / n)
