"""Small local models: a Llama-style causal LM of a few million parameters, built here.

No model can be downloaded on the machines traj is tested on, so the tests and the bundled
demo use a model the project builds itself: a byte-level BPE tokenizer trained locally with
``tokenizers``, a Llama config (head_dim 64: vLLM's CPU attention rejects 16), and weights,
saved as an ordinary Hugging Face directory that ``AutoModelForCausalLM.from_pretrained``,
``mlx_lm.load`` and vLLM load exactly as they load a real checkpoint.

:func:`init_tiny` starts from a hand-built copying circuit (:func:`_induction_init`: gradient
descent does not find induction heads in a CPU budget) and pretrains it briefly on synthetic
browser decisions (:mod:`traj.tiny._synthetic`), most of them with a demonstration of the same made-up site
in context, so that it follows the action format and, given a demonstration, continues it:
the in-context ability SDFT's teacher needs. :func:`evaluate_tiny` measures both on sites it never saw.
Built once per (shape, generator, recipe, seed, steps) and cached.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from traj.errors import TrainingError
from traj.prompt import RULES, ParseError, parse_action

__all__ = [
    "CHAT_TEMPLATE",
    "DEFAULT_STEPS",
    "EOS",
    "SHAPES",
    "SHIPPED",
    "SPECIAL_TOKENS",
    "TinyConfig",
    "TinyReport",
    "TinyShape",
    "build_tiny",
    "build_tokenizer",
    "build_untrained",
    "default_tiny_path",
    "evaluate_tiny",
    "init_tiny",
    "recipe_key",
    "shipped_tiny",
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
_SKILL_FAMILIES = range(2_000_000, 3_000_000)
"""The continuation's skill families: ids no first-stage family has."""
_EVAL_FAMILIES = range(10_000_000, 11_000_000)
"""Held-out made-up sites: evaluation never sees a family (layout, conventions) trained on."""
_CIRCUIT = 2
"""Version of the hand-built copying circuit (:func:`_induction_init`), part of the cache key:
2 stores both digits of a line number (1 stored the first, so lines 10-19 read as line 1)."""
_MARKER = "traj-tiny.json"
SHIPPED = Path(__file__).parent / "shipped"
"""The default model, built by ``traj model build`` and committed with its evaluation report."""


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
    demo_share: float = 0.7
    own_share: float = 0.6
    """Decisions with a demonstration, and of those, the episode's own: most prompts need it."""
    copy_every: int = 5
    """Every ``copy_every``-th step trains on random token sequences repeated (loss on the
    repeat only), so the hand-built copying circuit (:func:`_induction_init`) is kept."""
    copy_sequences: int = 32


_RECIPE = _Recipe()


@dataclass(frozen=True)
class _Continuation:
    """The second stage: from the first stage's weights, mostly skill families, with replay.

    The first stage's model follows the format and continues a demonstration but does not look
    values up in the goal (issue 25). Warm-starting is far cheaper than pretraining again on 2
    cores; the skill families (:mod:`traj.tiny._lookup`) make the goal the only source of each
    answer, and a share of the first stage's own mixture (and its copy batches) is replayed so
    what it learned is kept.
    """

    share: float = 0.0
    """Its steps per first-stage step (0: no second stage), so a short test build stays short."""
    skill_share: float = 0.65
    lr: float = 5e-4
    """Half the first stage's: 240 steps at 1e-3 with 0.8 skills broke the demonstration-following
    circuit (held-out sites with a demo 38% -> 10%); 80 steps at 5e-4 kept it (38%)."""
    warmup: float = 0.03
    history_weight: float = 0.3
    """Lower than the first stage's: a later step's page shows the typed value, so its history
    teaches copying from the page; the decision at the current step teaches the lookup."""
    demo_share: float = 0.6
    own_share: float = 0.2
    """Mostly another instance's demonstration: it shows the procedure, never the answer."""
    version: int = 2
    """Of the skill families' samples: bumped whenever they change (part of the cache key)."""


_CONTINUATION = _Continuation()
_CHECKPOINT = "checkpoint.pt"
_STAGE_ONE = "stage-one.json"
"""Written into the work directory when the first stage ends: a resumed build skips it."""


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
    rope_theta = 1e8
    """Slow rotary pairs (half of them turn < 0.5 rad over 2048 positions): attention can match
    content anywhere in the prompt; the fast pairs still locate the previous tokens."""

    @classmethod
    def llama_config(
        cls, tokenizer_vocab: int, *, pad_id: int, eos_id: int, shape: TinyShape | None = None
    ) -> dict[str, object]:
        """The ``config.json`` contents for a tokenizer of ``tokenizer_vocab`` tokens, of ``shape``
        (by default the ``tiny`` one)."""
        shape = shape or SHAPES["tiny"]
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": tokenizer_vocab,
            "hidden_size": shape.hidden_size,
            "intermediate_size": shape.intermediate_size,
            "num_hidden_layers": shape.num_hidden_layers,
            "num_attention_heads": shape.num_attention_heads,
            "num_key_value_heads": shape.num_attention_heads,
            "head_dim": cls.head_dim,
            "max_position_embeddings": cls.max_position_embeddings,
            "rope_theta": cls.rope_theta,
            "rms_norm_eps": 1e-5,
            "hidden_act": "silu",
            "tie_word_embeddings": True,
            "bos_token_id": None,
            "eos_token_id": eos_id,
            "pad_token_id": pad_id,
            "torch_dtype": shape.dtype,
        }


@dataclass(frozen=True)
class TinyShape:
    """A size the recipe builds: the default for 2 CPU cores, or a larger one for a GPU.

    Every shape keeps the tokenizer, ``head_dim`` 64 (vLLM's CPU attention, and the rows the
    hand-built copying circuit writes) and a hidden size of at least 256 (the circuit's residual
    slots), so the same recipe and circuit build each of them.
    """

    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    dtype: str = "float32"
    """What the weights are saved as: the larger shapes in bfloat16, so they ship under 40 MB."""


SHAPES: dict[str, TinyShape] = {
    "tiny": TinyShape(
        TinyConfig.hidden_size,
        TinyConfig.intermediate_size,
        TinyConfig.num_hidden_layers,
        TinyConfig.num_attention_heads,
    ),
    "small": TinyShape(384, 1024, 6, 6, "bfloat16"),
    "medium": TinyShape(512, 1280, 6, 8, "bfloat16"),
}
"""The shapes :func:`init_tiny` builds: ``tiny`` (3.9M parameters, the shipped default, trained on
2 CPU cores), ``small`` (11M) and ``medium`` (19M, 37 MiB in bfloat16), for a GPU's tokens."""


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


def build_untrained(path: str | Path, *, seed: int = 0, corpus: list[str] | None = None, shape: str = "tiny") -> Path:
    """Write a randomly initialised tiny model (tokenizer, config, weights) of ``shape`` to ``path``.

    The tokenizer is trained on ``corpus``, by default a few hundred synthetic prompts (about
    a second), so even an untrained model tokenizes prompts as the pretrained one does.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(corpus or _corpus(seed, 300))
    config = TinyConfig.llama_config(
        len(tokenizer), pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id, shape=_shape(shape)
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**config))
    _save_model(model, path, config)
    tokenizer.save_pretrained(path)
    return path


def default_tiny_path(
    seed: int = 0, steps: int = DEFAULT_STEPS, *, shape: str = "tiny", tokens_per_batch: int | None = None
) -> Path:
    """Where :func:`init_tiny` caches the model it builds: ``$TRAJ_CACHE`` or ``~/.cache/traj``."""
    root = Path(os.environ.get("TRAJ_CACHE") or Path.home() / ".cache" / "traj")
    return root / f"tiny-{recipe_key(seed, steps, shape=shape, tokens_per_batch=tokens_per_batch)}"


def recipe_key(
    seed: int = 0, steps: int = DEFAULT_STEPS, *, shape: str = "tiny", tokens_per_batch: int | None = None
) -> str:
    """A digest of everything a build depends on (shape, generator, recipe, rules, seed, steps).

    The shipped model records the key it was built with; when the recipe changes, the key no
    longer matches and :func:`init_tiny` builds the new recipe instead of loading a stale model.
    The device is not part of it: like the CPU's kernels, it changes the sums, not the recipe.
    """
    from traj.tiny._synthetic import GENERATOR_VERSION

    defaults = {k: v for k, v in vars(TinyConfig).items() if isinstance(v, int | float | str)}
    defaults["__module__"] = "traj.train.tiny"  # where TinyConfig was defined first: moving it keeps the caches
    recipe = _recipe(tokens_per_batch)
    parts: list[object] = [defaults, GENERATOR_VERSION, asdict(recipe), seed, steps, RULES, _CIRCUIT]
    if _CONTINUATION.share:
        parts.append(asdict(_CONTINUATION))
    if shape != "tiny":
        parts.append(asdict(_shape(shape)))
    key = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def shipped_tiny() -> Path | None:
    """The model shipped with traj (``traj/tiny/shipped``) when it was built from today's recipe.

    Shipping it makes every machine load the same weights: a build is deterministic only for one
    machine (the CPU's kernels, thread count and bf16 support change the floating-point sums).
    """
    marker = SHIPPED / _MARKER
    if not marker.is_file():
        return None
    return SHIPPED if json.loads(marker.read_text()).get("key") == recipe_key() else None


def init_tiny(
    path: str | Path | None = None,
    *,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
    shape: str = "tiny",
    tokens_per_batch: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    resume: bool = False,
) -> Path:
    """Build (or reuse) the pretrained tiny model; returns its directory.

    With no ``path`` and the default seed, steps and shape, the shipped model (:func:`shipped_tiny`)
    is returned when it matches the recipe; otherwise the build is cached. ``shape`` names one of
    :data:`SHAPES`; ``tokens_per_batch`` overrides the recipe's (a GPU wants far more per step);
    ``device`` is where it trains (``cuda`` on a GPU box: the batches are then made in a worker
    process while the GPU trains). The directory is
    complete or absent: the model is built in a work directory next to it (``.NAME.partial``)
    and renamed into place, with a marker file (the build's summary) written last; a directory
    with the marker is returned as it is. A build that was killed or interrupted leaves its
    work directory with checkpoints; ``resume=True`` goes on from them (same result as an
    uninterrupted build), otherwise the build starts over. Deterministic for a seed on one
    machine (see :func:`shipped_tiny`).
    """
    from traj.eventlog import fsync_dir, write_durably

    options = {"shape": shape, "tokens_per_batch": tokens_per_batch}
    # a build it cannot do is refused before anything is written
    _shape(shape)
    _recipe(tokens_per_batch)
    _device(device)
    default = (seed, steps, shape, tokens_per_batch) == (0, DEFAULT_STEPS, "tiny", None)
    if path is None and default and (shipped := shipped_tiny()) is not None:
        return shipped
    target = Path(path) if path is not None else default_tiny_path(seed, steps, **options)
    if (target / _MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # One build per target at a time: parallel test processes wait for the first instead of
    # each pretraining its own copy on the same cores.
    with open(target.parent / f".{target.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / _MARKER).is_file():
            return target
        scratch = target.parent / f".{target.name}.partial"
        if scratch.exists() and not resume:
            shutil.rmtree(scratch)
        scratch.mkdir(exist_ok=True)
        if (scratch / _STAGE_ONE).is_file():
            summary = json.loads((scratch / _STAGE_ONE).read_text())
        else:
            summary = _pretrain(scratch, seed=seed, steps=steps, progress=progress, device=device, **options)
            write_durably(scratch / _STAGE_ONE, json.dumps(summary).encode())
        if second_steps := round(steps * _CONTINUATION.share):
            second = continue_tiny(
                scratch,
                scratch,
                seed=seed,
                steps=second_steps,
                tokens_per_batch=tokens_per_batch,
                device=device,
                progress=progress,
            )
            summary = {**summary, "key": recipe_key(seed, steps, **options), "continuation": second}
        write_durably(scratch / _MARKER, (json.dumps(summary, indent=2) + "\n").encode())
        (scratch / _STAGE_ONE).unlink()
        if target.exists():
            shutil.rmtree(target)  # a leftover without the marker
        scratch.replace(target)
        fsync_dir(target.parent)
    return target


def continue_tiny(
    start: str | Path,
    path: str | Path,
    *,
    seed: int = 0,
    steps: int | None = None,
    tokens_per_batch: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    stop_after: int | None = None,
) -> dict[str, object]:
    """The recipe's second stage: train the model at ``start`` further into ``path``; its summary.

    ``path`` may be ``start`` (in place); ``tokens_per_batch`` and ``device`` are as for
    :func:`init_tiny`. ``steps`` overrides the recipe's (``DEFAULT_STEPS *
    share``); ``stop_after`` pauses after that many steps with a checkpoint in ``path``, and
    calling again with the same arguments goes on from it (as after a kill) to the weights an
    uninterrupted run gives.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    from traj.tiny._optimize import Schedule, optimize

    stage = _CONTINUATION
    total = round(DEFAULT_STEPS * stage.share) if steps is None else steps
    if total <= 0:
        raise TrainingError(f"the continuation needs at least one step, not {total} (pass steps)")
    start, path = Path(start), Path(path)
    if not (start / "config.json").is_file():
        raise TrainingError(f"{start} holds no model to continue from")
    if start.resolve() != path.resolve():
        shutil.copytree(start, path, dirs_exist_ok=True, ignore=shutil.ignore_patterns(_MARKER, "report.json", "*.pt*"))
    transformers_logging.disable_progress_bar()
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    config = json.loads((path / "config.json").read_text())  # as the first stage wrote it (mlx-lm reads it)
    recipe = replace(_recipe(tokens_per_batch), history_weight=stage.history_weight)
    target = _device(device)
    batches = _batch_source(
        lambda: _training_batches(
            tokenizer,
            _continuation_mixture(seed, stage),
            total,
            recipe,
            random.Random(f"continue-batches-{seed}"),
            random.Random(f"continue-copies-{seed}"),
        ),
        prefetch=target.type != "cpu",
    )
    prepared = time.perf_counter() - started
    with _Progress(progress, total, "teaching the tiny model to read the goal") as advance:
        tokens, loss = optimize(
            model,
            batches,
            Schedule(total, stage.lr, stage.warmup),
            autocast=_bf16_supported(target),
            device=target,
            checkpoint=path / _CHECKPOINT,
            stop_after=stop_after,
            advance=advance,
        )
    if stop_after is not None and stop_after < total:
        return {"paused_at": stop_after}
    _save_model(model, path, config)
    (path / _CHECKPOINT).unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    return {
        "steps": total,
        "tokens": tokens,
        "seconds": round(seconds, 1),
        "prepare_seconds": round(prepared, 1),
        "final_loss": round(loss, 4),
        "recipe": asdict(stage),
    }


def _continuation_mixture(seed: int, stage: _Continuation) -> Iterator[Any]:
    """Skill-family decisions, ``stage.skill_share`` of them, between first-stage ones (the replay)."""
    from traj.tiny._synthetic import SKILL_KINDS, decisions

    rng = random.Random(f"mixture-{seed}")
    skills = decisions(
        seed,
        1 << 30,
        families=_SKILL_FAMILIES,
        kinds=SKILL_KINDS,
        demo_share=stage.demo_share,
        own_share=stage.own_share,
    )
    replay = decisions(
        seed + 1, 1 << 30, families=_TRAIN_FAMILIES, demo_share=_RECIPE.demo_share, own_share=_RECIPE.own_share
    )
    while True:
        yield next(skills) if rng.random() < stage.skill_share else next(replay)


def build_tiny(
    path: str | Path,
    *,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
    shape: str = "tiny",
    tokens_per_batch: int | None = None,
    device: str = "cpu",
    report_n: int = 200,
    progress: bool = True,
    resume: bool = False,
) -> TinyReport:
    """Build the tiny model at ``path`` from scratch and write its evaluation beside it.

    ``traj model build traj/tiny/shipped`` is how the shipped model was made; ``report.json``
    holds the held-out evaluation (:func:`evaluate_tiny`, on ``device`` too) so a reader sees
    what it can do. The other arguments are :func:`init_tiny`'s.
    """
    from traj.eventlog import write_durably

    target = Path(path)
    if (target / _MARKER).is_file():
        raise TrainingError(f"{target} already holds a built model; remove it or choose another path")
    init_tiny(
        target,
        seed=seed,
        steps=steps,
        shape=shape,
        tokens_per_batch=tokens_per_batch,
        device=device,
        progress=progress,
        resume=resume,
    )
    report = evaluate_tiny(target, n=report_n, device=device)
    write_durably(target / "report.json", (json.dumps(asdict(report), indent=2) + "\n").encode())
    return report


def evaluate_tiny(path: str | Path, *, n: int = 200, seed: int = 12345, device: str = "cpu") -> TinyReport:
    """Greedy answers of the model at ``path`` on ``n`` held-out decisions, each without a
    demonstration, with one of the same site (other values) and with the episode's own."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from traj.tiny._synthetic import decisions

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(_device(device)).eval()
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


def _pretrain(
    path: Path, *, seed: int, steps: int, shape: str, tokens_per_batch: int | None, device: str, progress: bool
) -> dict[str, object]:
    """The first stage: a fresh tokenizer and model, the copying circuit, the site families.

    ``path`` is the build's work directory; the stage's checkpoint lives there until it ends,
    so a killed build started again in the same directory goes on from it.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    from traj.tiny._optimize import Schedule, optimize
    from traj.tiny._synthetic import decisions

    transformers_logging.disable_progress_bar()
    random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    started = time.perf_counter()
    recipe = _recipe(tokens_per_batch)
    target = _device(device)
    tokenizer_corpus = _corpus(seed, recipe.tokenizer_samples)
    build_untrained(path, seed=seed, corpus=tokenizer_corpus, shape=shape)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    config = json.loads((path / "config.json").read_text())
    _induction_init(model, tokenizer, seed)
    stream = decisions(
        seed, 1 << 30, families=_TRAIN_FAMILIES, demo_share=recipe.demo_share, own_share=recipe.own_share
    )
    batches = _batch_source(
        lambda: _training_batches(
            tokenizer,
            stream,
            steps,
            recipe,
            random.Random(f"batches-{seed}"),
            random.Random(f"copies-{seed}"),
        ),
        prefetch=target.type != "cpu",
    )
    prepared = time.perf_counter() - started
    autocast = _bf16_supported(target)
    with _Progress(progress, steps, "pretraining the tiny model") as advance:
        tokens_seen, loss_value = optimize(
            model,
            batches,
            Schedule(steps, recipe.lr, recipe.warmup),
            autocast=autocast,
            device=target,
            checkpoint=path / _CHECKPOINT,
            advance=advance,
        )
    _save_model(model, path, config)
    (path / _CHECKPOINT).unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    summary: dict[str, object] = {"key": recipe_key(seed, steps, shape=shape, tokens_per_batch=tokens_per_batch)}
    if shape != "tiny":
        summary["shape"] = {"name": shape, **asdict(_shape(shape)), "parameters": model.num_parameters()}
    return {
        **summary,
        "seed": seed,
        "steps": steps,
        "device": str(target),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "tokens": tokens_seen,
        "seconds": round(seconds, 1),
        "prepare_seconds": round(prepared, 1),
        "tokens_per_second": round(tokens_seen / max(1e-9, seconds - prepared)),
        "bf16_autocast": autocast,
        "final_loss": round(loss_value, 4),
        "recipe": asdict(recipe),
    }


def _recipe(tokens_per_batch: int | None) -> _Recipe:
    """The first stage's recipe, with ``tokens_per_batch`` when given."""
    if tokens_per_batch is None:
        return _RECIPE
    if tokens_per_batch < (least := TinyConfig.max_position_embeddings):
        raise TrainingError(f"tokens per batch must hold the longest prompt: at least {least}, not {tokens_per_batch}")
    return replace(_RECIPE, tokens_per_batch=tokens_per_batch)


def _shape(name: str) -> TinyShape:
    try:
        return SHAPES[name]
    except KeyError:
        raise TrainingError(f"unknown model shape {name!r}; use one of {', '.join(SHAPES)}") from None


def _device(name: str) -> Any:
    """``name`` as a torch device, refused in one line when this machine does not have it."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainingError(f"unknown device {name!r}; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError(f"device {name} is not available: this torch ({torch.__version__}) sees no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise TrainingError(f"the tiny model trains on cpu or cuda, not {name!r}")
    return device


def _save_model(model: Any, path: Path, config: dict[str, object]) -> None:
    """Weights in the dtype ``config`` names (the larger shapes ship in bfloat16) and ``config.json``.

    The model is left in that dtype: a build's last use of it."""
    import torch

    model.to(getattr(torch, str(config["torch_dtype"]))).save_pretrained(path)
    _write_config(path, config)


def _corpus(seed: int, count: int) -> list[str]:
    """Prompts and answers to train the tokenizer on (the rules first, so they merge well)."""
    from traj.tiny._synthetic import decisions

    samples = decisions(seed, count, families=_TRAIN_FAMILIES)
    return [RULES] + [f"{sample.prompt}\n{sample.target}" for sample in samples]


def _training_batches(
    tokenizer: Any,
    stream: Iterator[Any],
    steps: int,
    recipe: _Recipe,
    batch_rng: random.Random,
    copy_rng: random.Random,
) -> Iterator[tuple[Any, Any]]:
    """``steps`` batches of padded ids and loss weights: every ``copy_every``-th a copy batch
    (:func:`_copy_batch`), the others decisions of ``stream`` (:func:`_decision_batches`).

    Made as they are consumed, so a GPU's long run neither waits for all of them first nor
    holds them all in memory; the same arguments always give the same batches.
    """
    decided = _decision_batches(tokenizer, stream, recipe, batch_rng)
    for step in range(steps):
        yield _copy_batch(tokenizer, recipe, copy_rng) if (step + 1) % recipe.copy_every == 0 else next(decided)


def _batch_source(make: Callable[[], Iterator[tuple[Any, Any]]], *, prefetch: bool) -> Iterable[tuple[Any, Any]]:
    """The batches ``make`` gives, made in this process or, with ``prefetch``, in a worker
    process a few batches ahead (in pinned memory): on a GPU, making them is otherwise the
    bottleneck. Either way the same batches in the same order."""
    if not prefetch:
        return make()
    import torch
    from torch.utils.data import DataLoader, IterableDataset

    class _Made(IterableDataset):  # type: ignore[type-arg]
        def __iter__(self) -> Iterator[tuple[Any, Any]]:
            return make()

    return DataLoader(
        _Made(),
        batch_size=None,
        num_workers=1,
        prefetch_factor=16,
        pin_memory=torch.cuda.is_available(),
        multiprocessing_context="fork",
    )


def _decision_batches(
    tokenizer: Any, stream: Iterator[Any], recipe: _Recipe, rng: random.Random
) -> Iterator[tuple[Any, Any]]:
    """Batches of prompts of similar length, without end.

    Samples are encoded in pools of 256; a pool sorted by length is cut into batches of at
    most ``tokens_per_batch`` padded tokens, and the batches are shuffled.
    """
    import torch

    while True:
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
            yield ids, weights


_TOKEN, _PREV, _PREV2, _LINE, _LINE2, _DIGIT, _STEP3, _BIAS = (
    slice(0, 60),
    slice(60, 120),
    slice(120, 180),
    slice(180, 190),
    slice(190, 201),
    slice(201, 212),
    212,
    255,
)
"""Residual stream of the hand-built circuit: the token (a random sign vector), the previous
two tokens, the step number of the current ``Step N:`` line (its first digit, and its second
or "none"), the token's digit or "not a digit" (every token has one, so digits do not change
a position's norm), "the token three back is Step", a constant."""
_CIRCUIT_HEADS = ((0, (0, 1, 2)), (1, (0, 1)), (2, (0, 1)))
"""The (layer, heads) the hand-built circuit is written into."""


def _induction_init(model: Any, tokenizer: Any, seed: int) -> None:
    """Set weights that copy a demonstration's ``Step N`` line into the answer, before training.

    Gradient descent does not find induction heads in a few hundred steps on 2 cores (copy
    probes stayed at 0% for every recipe tried), so the circuit is written by hand and then
    trained along with the rest: layer 0 moves each token's identity to the next two
    positions (and "Step" to the third); layer 1 finds the latest ``Step`` and stores the two
    digits after it (the line number: the second is "none" on lines 1 to 9, so line 12 is
    neither line 1 nor line 2); layer 2 attends, on the slow rotary pairs, to the position in
    the context with the same line number, the same previous token and the one before, and
    copies the token there. Every other weight that writes to the residual stream starts at
    zero.
    """
    import numpy as np
    import torch

    hidden, head = model.config.hidden_size, TinyConfig.head_dim
    half = head // 2
    width = _TOKEN.stop - _TOKEN.start
    freq = TinyConfig.rope_theta ** (-np.arange(half) / half)
    digits = [tokenizer.convert_tokens_to_ids(str(i)) for i in range(10)]
    step = tokenizer.convert_tokens_to_ids("Step")
    generator = torch.Generator().manual_seed(seed)
    embed = torch.zeros(len(tokenizer), hidden)
    embed[:, _TOKEN] = (torch.randint(0, 2, (len(tokenizer), width), generator=generator) * 2 - 1) / math.sqrt(width)
    embed[:, _DIGIT.stop - 1] = 0.5
    for index, token in enumerate(digits):
        embed[token, _DIGIT.stop - 1] = 0.0
        embed[token, _DIGIT.start + index] = 0.5
    embed[:, _BIAS] = 1.0
    # RMSNorm scales: a unit vector's coordinates after the input norm of layers 0, 1 and 2
    norm0, norm1, norm2 = (math.sqrt(hidden / squares) for squares in (2.25, 4.25, 6.25))
    layers = model.model.layers
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(embed)
        for layer in layers:
            layer.mlp.down_proj.weight.zero_()
            layer.self_attn.o_proj.weight.zero_()
        for layer, heads in _CIRCUIT_HEADS:
            attention = layers[layer].self_attn
            for h in heads:
                for proj in (attention.q_proj, attention.k_proj, attention.v_proj):
                    proj.weight[h * head : (h + 1) * head].zero_()
        # layer 0: heads 0, 1 and 2 attend 1, 2 and 3 positions back (fast pairs) and copy the
        # token (heads 0 and 1) or how much it is "Step" (head 2: its code's projection)
        attention = layers[0].self_attn
        for h, offset in enumerate((1, 2, 3)):
            for j, amplitude in enumerate((1, 1, 1, 1, 0.7, 0.5, 0.4, 0.3)):
                scale = 14.0 * math.sqrt(amplitude) / norm0
                attention.q_proj.weight[h * head + j, _BIAS] = scale
                attention.k_proj.weight[h * head + j, _BIAS] = scale * math.cos(offset * freq[j])
                attention.k_proj.weight[h * head + j + half, _BIAS] = scale * math.sin(offset * freq[j])
        for h, into in enumerate((_PREV, _PREV2)):
            for i in range(width):
                attention.v_proj.weight[h * head + i, _TOKEN.start + i] = 1 / norm0
                attention.o_proj.weight[into.start + i, h * head + i] = 1.0
        attention.v_proj.weight[2 * head, _TOKEN] = embed[step, _TOKEN] / norm0
        attention.o_proj.weight[_STEP3, 2 * head] = 1.0
        # layer 1, heads 0 and 1: the latest position two (three) after a "Step" (recency on
        # middle pairs, content on the slowest pair); store its digit (or "none") as the line
        # number's first (second) digit
        attention = layers[1].self_attn
        recency = list(range(5, 14))
        weights = [0.5] + [1.0] * (len(recency) - 1)
        distance = np.arange(TinyConfig.max_position_embeddings + 1)
        curve = sum(w * np.cos(freq[j] * distance) for j, w in zip(recency, weights, strict=True))
        span = curve[0] - curve.min()
        for h in (0, 1):
            for j, w in zip(recency, weights, strict=True):
                scale = math.sqrt(8 * 200.0 * w / span) / norm1
                attention.q_proj.weight[h * head + j, _BIAS] = scale
                attention.k_proj.weight[h * head + j, _BIAS] = scale
            attention.q_proj.weight[h * head + half - 1, _BIAS] = 1 / norm1
        attention.k_proj.weight[half - 1, _PREV2] = 8 * 400.0 * embed[step, _TOKEN] / norm1
        attention.k_proj.weight[head + half - 1, _STEP3] = 8 * 400.0 / norm1
        for h, (into, values) in enumerate(((_LINE, 10), (_LINE2, 11))):
            for i in range(values):
                attention.v_proj.weight[h * head + i, _DIGIT.start + i] = 2 / norm1
                attention.o_proj.weight[into.start + i, h * head + i] = 1.0
        # layer 2, heads 0 and 1: match (line, token, previous token) against (line, previous,
        # the one before) on the slow pairs and copy the token found. Each digit of the line
        # number is matched through a code of 8 rows (Hadamard: two digits score 1 when equal,
        # 0 or -1 when not), so both digits and the tokens fit the 36 slow rows.
        attention = layers[2].self_attn
        slow = list(range(14, half))
        dims = slow + [j + half for j in slow]
        match = math.sqrt(8 * 12.0) / norm2
        codes = torch.tensor(np.kron(np.kron([[1, 1], [1, -1]], [[1, 1], [1, -1]]), [[1, 1], [1, -1]]))
        codes = torch.cat([codes, -codes]).float() / math.sqrt(8)
        rows_per_token = (len(dims) - 2 * codes.shape[1]) // 2
        part = match * math.sqrt(width / rows_per_token)
        for h in (0, 1):
            rows = iter(h * head + d for d in dims)
            for line in (_LINE, _LINE2):
                for r in range(codes.shape[1]):
                    row = next(rows)
                    for i, index in enumerate(range(line.start, line.stop)):
                        attention.q_proj.weight[row, index] = match * codes[i, r]
                        attention.k_proj.weight[row, index] = match * codes[i, r]
            for query, key, first in (
                (_TOKEN, _PREV, h * rows_per_token),
                (_PREV, _PREV2, (2 + h) * rows_per_token),
            ):
                for i in range(first, first + rows_per_token):
                    row = next(rows)
                    attention.q_proj.weight[row, query.start + i] = part
                    attention.k_proj.weight[row, key.start + i] = part
            for i in range(width):
                attention.v_proj.weight[h * head + i, _TOKEN.start + i] = 1 / norm2
                attention.o_proj.weight[_TOKEN.start + i, h * head + i] = 1.5


def _copy_batch(tokenizer: Any, recipe: _Recipe, rng: random.Random) -> tuple[Any, Any]:
    """Random token sequences, each followed (after a random gap) by its repeat; the loss is on
    the repeat, so only copying from context lowers it."""
    import torch

    vocab = range(len(SPECIAL_TOKENS), len(tokenizer))
    rows = []
    for _ in range(recipe.copy_sequences):
        prefix = [rng.choice(vocab) for _ in range(rng.randint(0, 32))]
        segment = [rng.choice(vocab) for _ in range(rng.randint(4, 48))]
        gap = [rng.choice(vocab) for _ in range(rng.randint(0, 16))]
        start = len(prefix) + len(segment) + len(gap) + 1
        rows.append((prefix + segment + gap + segment, [0.0] * start + [1.0] * (len(segment) - 1)))
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    ids = torch.tensor([row + [pad] * (width - len(row)) for row, _ in rows])
    weights = torch.tensor([w + [0.0] * (width - len(w)) for _, w in rows])
    return ids, weights


def _encode(tokenizer: Any, sample: Any, recipe: _Recipe) -> tuple[list[int], list[float]]:
    """Ids of ``chat(prompt) + target + EOS`` and a loss weight per token (see :class:`_Recipe`)."""
    from traj.prompt import chat_text

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

    from traj.prompt import chat_text

    texts = [chat_text(tokenizer, prompt) for prompt in prompts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    answers = [""] * len(texts)
    tokenizer.padding_side = "left"
    for first in range(0, len(order), batch):
        chunk = order[first : first + batch]
        encoded = tokenizer([texts[i] for i in chunk], return_tensors="pt", padding=True, add_special_tokens=False)
        encoded = encoded.to(model.device)
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


def _bf16_supported(device: Any) -> bool:
    """bfloat16 autocast pays on GPUs that have it and CPUs with native bf16 (AVX512-BF16, AMX);
    elsewhere it is emulated and slow."""
    import torch

    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and torch.backends.cpu.get_cpu_capability() in (
            "AVX512",
            "AMX",
        )
    except (AttributeError, RuntimeError):
        return False


class _Progress:
    """A rich progress bar over the optimizer steps (or nothing)."""

    def __init__(self, show: bool, steps: int, label: str) -> None:
        self.show, self.steps, self.label = show, steps, label

    def __enter__(self) -> Any:
        if not self.show:
            return lambda loss: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(
            TextColumn(self.label),
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
