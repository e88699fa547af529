"""SDFT in MLX (Apple silicon; ``mlx[cpu]`` on Linux): the torch trainer's algorithm, config and formats.

The student is mlx-lm's own ``LoRALinear`` layers over the frozen base. The teacher has no
layers of its own: its EMA factors (the same exact low-rank EMA of ``B A`` as the torch
trainer, :func:`traj.train._ema.ema_update_lowrank`) are swapped into the LoRA layers for the
teacher's forward pass and swapped out after. mlx-lm models take no padding mask, so each
example is scored on its own and the loss is the mean over all kept tokens, which is what the
torch trainer's masked mean over a padded batch computes. Rollouts are drawn under the page's
action constraint as the torch trainer's are (``constrain``), and the divergence is taken over
the tokens it allowed, renormalised.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from traj.errors import TrainingError, one_line
from traj.train._config import SdftConfig, StepMetrics, TrainingExample
from traj.train._constraint import RolloutConstraints
from traj.train._ema import ema_update_modules

__all__ = ["MlxSdftTrainer"]


class MlxSdftTrainer:
    """SDFT/SFT training state in MLX: base model, student LoRA layers, teacher EMA factors."""

    def __init__(
        self,
        model_dir: str | Path,
        config: SdftConfig | None = None,
        *,
        total_steps: int = 1,
        initial_adapter: str | Path | None = None,
    ) -> None:
        import mlx.core as mx
        import mlx.optimizers as optim
        import mlx_lm
        from mlx_lm.tuner.utils import linear_to_lora_layers

        from traj.policy import mlx_model_config

        self.config = config = config or SdftConfig()
        mx.random.seed(config.seed)
        random.seed(config.seed)
        model_dir = Path(model_dir)
        try:
            self.model, self.tokenizer = mlx_lm.load(str(model_dir), model_config=mlx_model_config(model_dir))
        except (OSError, ValueError, KeyError) as exc:
            raise TrainingError(f"cannot load the base model at {model_dir} with mlx-lm: {one_line(exc)}") from None
        self.model.freeze()
        vocab = int(json.loads((model_dir / "config.json").read_text()).get("vocab_size") or 0)
        self._constraints = RolloutConstraints(
            self.tokenizer._tokenizer, vocab or len(self.tokenizer._tokenizer), self.tokenizer.eos_token_id
        )
        keys = sorted(
            {
                name
                for name, _ in self.model.layers[0].named_modules()
                if name.rsplit(".", 1)[-1] in config.target_modules
            }
        )
        if not keys:
            raise TrainingError(f"none of the target modules {list(config.target_modules)} is in the model")
        self.lora_parameters = {
            "rank": config.rank,
            "scale": config.lora_alpha / config.rank,
            "dropout": 0.0,
            "keys": keys,
        }
        linear_to_lora_layers(self.model, len(self.model.layers), self.lora_parameters)
        if initial_adapter is not None:
            self._load_student(Path(initial_adapter))
        self.teacher_rank = config.teacher_rank or 2 * config.rank
        self.teacher: dict[str, tuple[Any, Any]] = {
            path: (
                mx.zeros((module.lora_b.shape[1], self.teacher_rank)),
                mx.zeros((self.teacher_rank, module.lora_a.shape[0])),
            )
            for path, module in self._lora_modules()
        }
        # bias_correction: torch's AdamW has it; without it the first steps are ~3x larger and diverge
        self.optimizer = optim.AdamW(learning_rate=config.learning_rate, weight_decay=0.0, bias_correction=True)
        self.total_steps = total_steps
        self.warmup = max(1, int(total_steps * config.warmup_ratio))
        self.steps_done = 0

    # ------------------------------------------------------------------ the step

    def step(self, examples: Sequence[TrainingExample]) -> StepMetrics:
        """One optimizer step (the KL it reports is measured before the update)."""
        import mlx.core as mx
        import mlx.optimizers as optim
        from mlx import nn

        started = time.perf_counter()
        allowed: list[Any] = []
        if self.config.objective == "sft":
            eos = self.tokenizer.eos_token or ""
            responses = [self._encode(e.target + eos) for e in examples]
        else:
            # mlx's global key cannot be saved and set back, so each step's sampling is seeded
            # from (seed, step): a resumed run draws the same rollouts as an uninterrupted one
            mx.random.seed(self.config.seed * 1_000_003 + self.steps_done)
            responses, allowed = self._sample([e.query for e in examples], [e.schema for e in examples])
        teacher_logits = None if self.config.objective == "sft" else self._teacher_logits(examples, responses)
        loss_and_grad = nn.value_and_grad(
            self.model, lambda model: self._loss(examples, responses, teacher_logits, allowed)
        )
        (loss, kl), grads = loss_and_grad(self.model)
        tokens = sum(len(r) for r in responses)
        grads, grad_norm = optim.clip_grad_norm(grads, self.config.grad_clip)
        lr = self._lr(self.steps_done)
        self.optimizer.learning_rate = lr
        self.optimizer.update(self.model, grads)
        mx.eval(self.model.trainable_parameters(), self.optimizer.state, loss)
        drift, truncation = self.update_teacher() if self.config.objective == "sdft" else (0.0, 0.0)
        self.steps_done += 1
        seconds = time.perf_counter() - started
        return StepMetrics(
            step=self.steps_done - 1,
            loss=float(loss),
            kl=float(kl) if self.config.objective == "sdft" else float("nan"),
            grad_norm=float(grad_norm),
            lr=lr,
            tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
            teacher_drift=drift,
            ema_truncation=truncation,
            response_tokens=tokens,
        )

    def loss_on(
        self, examples: Sequence[TrainingExample], responses: list[list[int]], allowed: Sequence[Any] = ()
    ) -> float:
        """The loss for fixed responses (teacher forcing), without updating anything; ``allowed``
        (per response, a ``(T, V)`` bool array or ``None``) restricts the divergence's support."""
        teacher_logits = None if self.config.objective == "sft" else self._teacher_logits(examples, responses)
        return float(self._loss(examples, responses, teacher_logits, allowed)[0])

    def _loss(
        self,
        examples: Sequence[TrainingExample],
        responses: list[list[int]],
        teacher_logits: list[Any] | None,
        allowed: Sequence[Any] = (),
    ) -> tuple[Any, Any]:
        """(loss, reverse KL) as arrays: the mean over every kept token of the batch, each token's
        divergence over its allowed tokens where ``allowed`` gives them."""
        import mlx.core as mx

        skip = 0 if teacher_logits is None else self.config.mask_first_tokens
        total, kl_total = mx.array(0.0), mx.array(0.0)
        for index, (example, response) in enumerate(zip(examples, responses, strict=True)):
            student = self._response_logits(example.query, response)
            mask = (mx.arange(len(response)) >= skip).astype(mx.float32)
            if teacher_logits is None:
                losses = _cross_entropy(student, mx.array(response))
            else:
                support = allowed[index] if index < len(allowed) else None
                if support is not None:
                    student = mx.where(support, student, _EXCLUDED)
                    teacher = mx.where(support, teacher_logits[index], _EXCLUDED)
                else:
                    teacher = teacher_logits[index]
                losses = _divergence(student, teacher, self.config.divergence, self.config.jsd_beta)
                kl_total = kl_total + mx.stop_gradient((_divergence(student, teacher, "reverse") * mask).sum())
            total = total + (losses * mask).sum()
        kept = max(1, sum(max(0, len(r) - skip) for r in responses))
        return total / kept, kl_total / kept

    def _teacher_logits(self, examples: Sequence[TrainingExample], responses: list[list[int]]) -> list[Any]:
        import mlx.core as mx

        saved = self._swap_in_teacher()
        try:
            logits = [
                mx.stop_gradient(self._response_logits(e.teacher_query, r))
                for e, r in zip(examples, responses, strict=True)
            ]
            mx.eval(logits)
        finally:
            self._restore(saved)
        return logits

    # ------------------------------------------------------------------ pieces

    def rollouts(
        self, queries: Sequence[str], *, temperature: float | None = None, schemas: Sequence[str] = ()
    ) -> list[list[int]]:
        """The student's answers as token ids (sampled at ``temperature``; greedy at 0), under
        ``schemas`` (one per query, see :attr:`TrainingExample.schema`) when the config constrains."""
        return self._sample(queries, schemas, temperature=temperature)[0]

    def _sample(
        self, queries: Sequence[str], schemas: Sequence[str], *, temperature: float | None = None
    ) -> tuple[list[list[int]], list[Any]]:
        """The answers and, per answer, the ``(T, V)`` bool array of the tokens each position was
        drawn from (``None`` for an unconstrained one)."""
        import mlx.core as mx
        import numpy as np
        from mlx_lm.generate import generate_step
        from mlx_lm.sample_utils import make_sampler

        from traj.policy import MlxMasking
        from traj.prompt import chat_text

        temperature = self.config.temperature if temperature is None else temperature
        sampler = make_sampler(temp=temperature)
        eos = self.tokenizer.eos_token_id
        constraints = self._constraints.of(schemas) if self.config.constrain and schemas else [None] * len(queries)
        responses, allowed = [], []
        for query, constraint in zip(queries, constraints, strict=True):
            ids = self._encode(chat_text(self.tokenizer, query))
            masking = MlxMasking(constraint, len(ids)) if constraint is not None else None
            tokens: list[int] = []
            for token, _ in generate_step(
                mx.array(ids),
                self.model,
                max_tokens=self.config.max_new_tokens,
                sampler=sampler,
                logits_processors=[masking] if masking is not None else None,
            ):
                tokens.append(int(token))
                if int(token) == eos:
                    break
            responses.append(tokens or [eos])
            # mlx-lm masks one step ahead: the masks beyond the answer's length were never drawn from
            allowed.append(None if masking is None else mx.array(np.stack(masking.masks[: len(responses[-1])])))
        return responses, allowed

    def greedy_answers(
        self, queries: Sequence[str], *, teacher: bool = False, schemas: Sequence[str] = ()
    ) -> list[str]:
        """Greedy answers of the student (or the teacher) as text, under ``schemas`` when the
        config constrains: the step-0 accuracy check."""
        saved = self._swap_in_teacher() if teacher else None
        try:
            answers = self.rollouts(queries, temperature=0.0, schemas=schemas)
        finally:
            if saved is not None:
                self._restore(saved)
        eos = self.tokenizer.eos_token_id
        return [self.tokenizer.decode([t for t in answer if t != eos]) for answer in answers]

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _response_logits(self, query: str, response: list[int]) -> Any:
        """Logits predicting each response token after the chat-formatted ``query``."""
        import mlx.core as mx

        from traj.prompt import chat_text

        prompt = self._encode(chat_text(self.tokenizer, query))
        ids = mx.array([prompt + response])
        logits = self.model(ids)[0].astype(mx.float32)
        return logits[len(prompt) - 1 : len(prompt) - 1 + len(response)]

    def set_teacher_factors(self, factors: dict[str, tuple[Any, Any]]) -> None:
        """Start the teacher from given ``(U, V)`` per module path (e.g. the torch trainer's)."""
        import mlx.core as mx

        for path in self.teacher:
            u, v = factors[path]
            self.teacher[path] = (mx.array(u), mx.array(v))

    def _lora_modules(self) -> list[tuple[str, Any]]:
        from mlx_lm.tuner.lora import LoRALinear

        return [(name, module) for name, module in self.model.named_modules() if isinstance(module, LoRALinear)]

    def _swap_in_teacher(self) -> dict[str, tuple[Any, Any, float]]:
        saved = {}
        for path, module in self._lora_modules():
            saved[path] = (module.lora_a, module.lora_b, module.scale)
            u, v = self.teacher[path]
            module.lora_a, module.lora_b, module.scale = v.T, u.T, 1.0
        return saved

    def _restore(self, saved: dict[str, tuple[Any, Any, float]]) -> None:
        for path, module in self._lora_modules():
            module.lora_a, module.lora_b, module.scale = saved[path]

    def update_teacher(self) -> tuple[float, float]:
        """The torch trainer's exact EMA of ``B A``, on these factors."""
        import mlx.core as mx
        import numpy as np
        import torch

        modules = list(self._lora_modules())
        teachers = [tuple(torch.from_numpy(np.array(t)) for t in self.teacher[path]) for path, _ in modules]
        students = [  # PEFT's orientation: B is (out, r), A is (r, in)
            (torch.from_numpy(np.array(module.lora_b)).T, torch.from_numpy(np.array(module.lora_a)).T)
            for _, module in modules
        ]
        updated, moved, worst = ema_update_modules(
            teachers, students, alpha=self.config.ema_alpha, scale=modules[0][1].scale
        )
        for (path, _), (new_u, new_v) in zip(modules, updated, strict=True):
            self.teacher[path] = (mx.array(new_u.numpy()), mx.array(new_v.numpy()))
        return moved, worst

    def _lr(self, step: int) -> float:
        warm = min(1.0, (step + 1) / self.warmup)
        return (
            self.config.learning_rate * warm * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, self.total_steps))))
        )

    def checkpoint(self) -> dict[str, Any]:
        """Everything a resumed run needs (as torch tensors, one format for both trainers): the
        student's LoRA weights, the teacher's EMA factors, the optimizer state and the step."""
        import numpy as np
        import torch
        from mlx.utils import tree_flatten

        def tensor(array: Any) -> torch.Tensor:
            values = np.array(array)  # the optimizer's step counter is uint64, which torch cannot hold
            return torch.from_numpy(values.astype(np.int64) if values.dtype == np.uint64 else values.copy())

        return {
            "backend": "mlx",
            "step": self.steps_done,
            "student": {k: tensor(v) for k, v in tree_flatten(self.model.trainable_parameters())},
            "teacher": {path: (tensor(u), tensor(v)) for path, (u, v) in self.teacher.items()},
            "optimizer": {k: tensor(v) for k, v in tree_flatten(self.optimizer.state)},
            "python_rng": random.getstate(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`checkpoint` of a trainer with the same model and config."""
        import mlx.core as mx
        from mlx.utils import tree_unflatten

        if state.get("backend") != "mlx":
            raise TrainingError(f"a {state.get('backend')} checkpoint cannot resume the mlx trainer")
        if set(state["teacher"]) != set(self.teacher):
            raise TrainingError("the checkpoint does not fit this model: its LoRA modules differ")
        self.model.load_weights([(k, mx.array(v.numpy())) for k, v in state["student"].items()], strict=False)
        self.teacher = {path: (mx.array(u.numpy()), mx.array(v.numpy())) for path, (u, v) in state["teacher"].items()}
        optimizer = [(k, mx.array(v.numpy())) for k, v in state["optimizer"].items()]
        self.optimizer.state = tree_unflatten([(k, v.astype(mx.uint64) if k == "step" else v) for k, v in optimizer])
        random.setstate(state["python_rng"])
        self.steps_done = state["step"]
        mx.eval(self.model.trainable_parameters(), self.optimizer.state)

    def _load_student(self, path: Path) -> None:
        """Set the student's LoRA weights from the adapter (PEFT or mlx-lm) at ``path``, which
        must have this trainer's rank, scale and target modules."""
        import tempfile

        import mlx.core as mx
        from mlx.utils import tree_flatten

        from traj.errors import PolicyError
        from traj.policy import detect_adapter_format, peft_to_mlx

        try:
            with tempfile.TemporaryDirectory() as scratch:
                mlx_dir = peft_to_mlx(path, Path(scratch)) if detect_adapter_format(path) == "peft" else path
                weights = mx.load(str(mlx_dir / "adapters.safetensors"))
                scale = float(json.loads((mlx_dir / "adapter_config.json").read_text())["lora_parameters"]["scale"])
        except (PolicyError, OSError, ValueError, KeyError) as exc:
            raise TrainingError(f"no adapter to start from at {path}: {one_line(exc)}") from None
        expected = {name: value.shape for name, value in tree_flatten(self.model.trainable_parameters())}
        if {name: value.shape for name, value in weights.items()} != expected:
            raise TrainingError(
                f"the adapter at {path} does not fit this model's LoRA layers: train with its rank and target "
                f"modules (this trainer has rank {self.config.rank})"
            )
        own = self.lora_parameters["scale"]
        if abs(scale - own) > 1e-9:
            raise TrainingError(f"the adapter at {path} has lora_alpha/r = {scale:g}, this trainer {own:g}")
        self.model.load_weights(list(weights.items()), strict=False)

    def start_from(self, directory: str | Path) -> None:
        """Start the student at a trained adapter (PEFT or mlx-lm) instead of zero, and the EMA
        teacher at the same delta, as the torch trainer does: continual learning trains task B
        on top of task A's adapter."""
        import mlx.core as mx

        self._load_student(Path(directory))
        if self.teacher_rank < self.config.rank:
            raise TrainingError(f"the teacher's rank {self.teacher_rank} cannot hold a rank-{self.config.rank} delta")
        for path, module in self._lora_modules():
            u = module.scale * module.lora_b.T  # (out, r): the teacher's own scale is 1
            v = module.lora_a.T  # (r, in)
            spare = self.teacher_rank - u.shape[1]
            self.teacher[path] = (
                mx.concatenate([u, mx.zeros((u.shape[0], spare))], axis=1),
                mx.concatenate([v, mx.zeros((spare, v.shape[1]))], axis=0),
            )

    def save_student(self, directory: str | Path) -> Path:
        """Save the student as an mlx-lm adapter directory."""
        import mlx.core as mx
        from mlx.utils import tree_flatten

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        weights = dict(tree_flatten(self.model.trainable_parameters()))
        mx.save_safetensors(str(directory / "adapters.safetensors"), weights)
        config = {
            "fine_tune_type": "lora",
            "num_layers": len(self.model.layers),
            "lora_parameters": self.lora_parameters,
        }
        (directory / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
        return directory


_EXCLUDED = -1e30
"""A token outside the allowed support: probability exactly 0 (as in :mod:`traj.train._divergence`)."""


def _log_softmax(logits: Any) -> Any:
    import mlx.core as mx

    return logits - mx.logsumexp(logits, axis=-1, keepdims=True)


def _kl(log_p: Any, log_q: Any) -> Any:
    import mlx.core as mx

    return (mx.exp(log_p) * (log_p - log_q)).sum(-1)


def _divergence(student_logits: Any, teacher_logits: Any, divergence: str, beta: float = 0.5) -> Any:
    """Per-token divergences with the same definitions as :mod:`traj.train._divergence`."""
    import mlx.core as mx

    student, teacher = _log_softmax(student_logits), _log_softmax(teacher_logits)
    if divergence == "reverse" or (divergence == "jsd" and beta == 1.0):
        return _kl(student, teacher)
    if divergence == "forward" or beta == 0.0:
        return _kl(teacher, student)
    mixture = mx.logsumexp(mx.stack([teacher + math.log(beta), student + math.log(1 - beta)]), axis=0)
    return beta * _kl(teacher, mixture) + (1 - beta) * _kl(student, mixture)


def _cross_entropy(logits: Any, targets: Any) -> Any:
    import mlx.core as mx

    log_probs = _log_softmax(logits)
    return -mx.take_along_axis(log_probs, targets[:, None], axis=-1)[:, 0]
