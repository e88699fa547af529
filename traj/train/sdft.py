"""Self-Distillation Fine-Tuning of a LoRA adapter with torch + PEFT (Shenfeld et al., 2026).

One PEFT model holds two adapters over one frozen base:

- ``student``: the adapter being trained, conditioned on the agent's prompt alone;
- ``teacher``: an EMA of the student's weight delta, conditioned on the same prompt with the
  demonstration inserted (``SdftItem.teacher_query``).

Per step the student samples one on-policy rollout per prompt, under the page's action
constraint as the agent decodes (``constrain``, :mod:`traj.train._constraint`); both models
score the student's tokens; the loss is the per-token divergence over the tokens the constraint
allowed, both distributions renormalised there (the full vocabulary when unconstrained;
:mod:`traj.train._divergence`), the first ``mask_first_tokens`` response tokens masked;
gradients reach the student adapter only; then the teacher's delta moves ``ema_alpha`` of the
way to the student's, exactly on the product ``B A`` (:mod:`traj.train._ema`).

The ``sft`` objective trains the same adapter by cross-entropy on the demonstrated actions,
through the same data path, as the baseline; ``dpo`` trains it on preference pairs: Direct
Preference Optimisation (Rafailov et al., 2023) on the ``preference`` export. A pair is one
context (the agent's prompt at a judged step) with the corrected action (chosen) and the
action the agent took (rejected); the loss is
``-log sigmoid(beta * ((log pi(c) - log pi(r)) - (log ref(c) - log ref(r))))`` over whole
action texts (each ending in EOS, as the agent must stop after it). The reference is the base
model: the same PEFT model with its adapters switched off, so no second copy is loaded, and
since a fresh LoRA starts at zero the first step's loss is exactly ``log 2``. All three share
the data path, the events, the adapter formats and the lineage.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from traj.errors import TrainingError
from traj.prompt import chat_text
from traj.train._budget import memory_budget
from traj.train._clock import PhaseClock
from traj.train._config import SdftConfig, StepMetrics, TrainingExample
from traj.train._constraint import RolloutConstraints
from traj.train._device import peak_memory_bytes, resolve_placement
from traj.train._divergence import masked_mean, per_token_divergence, response_mask
from traj.train._ema import ema_update_modules
from traj.train._loading import load_adapted_model
from traj.train._memory import retain_freed_memory
from traj.train._parallel import join_data_parallel
from traj.train._rollout import Rollout, TokenBatch, pack, response_logits, sample

if TYPE_CHECKING:
    import torch

__all__ = ["FOLD_LIMIT_BYTES", "SdftTrainer"]

FOLD_LIMIT_BYTES = 256 << 20
"""Fold an adapter into a copy of the adapted weights (:mod:`traj.train._fold`) up to this size
(plain ``torch.nn.Linear`` float32 base layers on the CPU only).

In a small model on the CPU each LoRA layer's extra ops and dispatch cost more than its
matmul, and the copy is cheap (13.6 MB for the tiny model). In a large one, or on a GPU, the
matmuls dominate, the LoRA path adds little, and the copy would be a second model."""


class _Loss(NamedTuple):
    """One micro-batch's loss (a mean over its ``weight``: trained tokens, or pairs for DPO)."""

    value: torch.Tensor
    kl: float
    tokens: int
    weight: float
    margin: float = float("nan")


class SdftTrainer:
    """The training state: base model, student and teacher adapters, optimizer and schedule.

    ``model_dir`` holds the tokenizer and, unless an in-memory ``base`` model is given (a
    benchmark's randomly initialised one), the base weights. The config's ``device`` and
    ``dtype`` place it; under ``torchrun`` it joins the data-parallel group
    (:mod:`traj.train._parallel`).
    """

    def __init__(
        self,
        model_dir: str | Path,
        config: SdftConfig | None = None,
        *,
        total_steps: int = 1,
        base: Any = None,
    ) -> None:
        import torch
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        config = config or SdftConfig()
        self.config = config
        self.placement = resolve_placement(config.device, config.dtype)
        if self.placement.on_cpu:
            retain_freed_memory()
        self.parallel = join_data_parallel(self.placement.device)
        torch.manual_seed(config.seed)  # the same LoRA initialisation on every rank
        random.seed(config.seed)
        self.tokenizer, self.model = load_adapted_model(model_dir, config, self.placement, base=base)
        vocab = int(self.model.config.get_text_config().vocab_size)
        self._constraints = RolloutConstraints(self.tokenizer, vocab, self.tokenizer.eos_token_id)
        self._pairs = self._lora_pairs()
        self._adapted = [s["site"] for s, _ in self._pairs]
        bases = [layer.base_layer for _, _, layer in self._adapted]
        # only plain float32 linear layers on the CPU fold: GPT-2's Conv1D stores W transposed,
        # quantized ones packed, and a GPU gains nothing from it (see FOLD_LIMIT_BYTES); nor with
        # gradient checkpointing, whose backward recomputes layers after the fold is undone
        plain = all(type(base) is torch.nn.Linear for base in bases)
        fold_bytes = sum(base.weight.nbytes for base in bases)
        cpu_float32 = self.placement.on_cpu and self.placement.dtype == torch.float32
        small = fold_bytes <= FOLD_LIMIT_BYTES and not config.gradient_checkpointing
        self._fold = plain and cpu_float32 and small
        with torch.no_grad():
            for _, teacher in self._pairs:  # the teacher starts where the student does: no delta
                teacher["A"].zero_()
                teacher["B"].zero_()
        self.student_parameters = [p for n, p in self.model.named_parameters() if ".student." in n]
        for name, parameter in self.model.named_parameters():
            parameter.requires_grad_(".student." in name)
        self.parallel.broadcast_(self.student_parameters)
        if self.parallel.world > 1:  # each rank samples its own rollouts
            torch.manual_seed(config.seed + self.parallel.rank)
        self.optimizer = torch.optim.AdamW(self.student_parameters, lr=config.learning_rate, weight_decay=0.0)
        # float16 activations underflow small gradients: scale the loss (a no-op for the other dtypes)
        self._scaler = torch.amp.GradScaler(self.placement.device.type, enabled=self.placement.dtype == torch.float16)
        self._clock = PhaseClock(self.placement.device)
        rows = (config.micro_batch_size or config.batch_size) * config.rollouts_per_prompt
        self.memory_budget = memory_budget(
            self.model, config, folded_bytes=2 * fold_bytes if self._fold else 0, rows=rows
        )
        warmup = max(1, int(total_steps * config.warmup_ratio))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda i: min(1.0, (i + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, i / max(1, total_steps)))),
        )
        self.steps_done = 0

    # ------------------------------------------------------------------ the step

    def step(self, examples: Sequence[TrainingExample]) -> StepMetrics:
        """One optimizer step on ``examples`` (the KL it reports is measured before the update).

        Under data parallelism ``examples`` is the whole step's batch and this rank trains on its
        share. The rows go through in micro-batches (``micro_batch_size``), each backward adding
        its summed loss's gradient; the gradients are then summed over the ranks and divided by
        the global weight (trained tokens, or DPO pairs): the mean loss of the whole batch."""
        import torch

        started = time.perf_counter()
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        self._clock.take()
        share = self.parallel.share(examples)
        size = self.config.micro_batch_size or max(1, len(share))
        # weight, tokens, weight x loss, weight x KL, weight x margin: summed over micro-batches and ranks
        totals = [0.0] * 5
        for start in range(0, len(share), size):
            part = self._loss(share[start : start + size])
            with self._clock("backward"):
                self._scaler.scale(part.value * part.weight).backward()
            found = (part.weight, part.tokens, float(part.value.detach()), part.kl, part.margin)
            totals = [t + (f if i < 2 else part.weight * f) for i, (t, f) in enumerate(zip(totals, found, strict=True))]
        with self._clock("optimizer"):
            summed = self.parallel.sum_(torch.tensor(totals, dtype=torch.float64, device=self._reduce_device))
            weight, tokens, loss, kl, margin = (float(v) for v in summed)
            self.parallel.sum_gradients_(self.student_parameters)
            for parameter in self.student_parameters:
                if parameter.grad is not None:
                    parameter.grad.div_(max(weight, 1.0))
            self._scaler.unscale_(self.optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.student_parameters, self.config.grad_clip))
            lr = self.scheduler.get_last_lr()[0]
            self._scaler.step(self.optimizer)
            self._scaler.update()
            self.scheduler.step()
        with self._clock("ema"):
            drift, truncation = self.update_teacher() if self.config.objective == "sdft" else (0.0, 0.0)
        self.steps_done += 1
        seconds = time.perf_counter() - started
        mean = max(weight, 1.0)
        return StepMetrics(
            step=self.steps_done - 1,
            loss=loss / mean,
            kl=kl / mean,
            grad_norm=grad_norm,
            lr=lr,
            tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
            teacher_drift=drift,
            ema_truncation=truncation,
            response_tokens=int(tokens),
            margin=None if self.config.objective != "dpo" else margin / mean,
            phases=self._clock.take(),
            peak_memory_bytes=self.peak_memory(),
        )

    def peak_memory(self) -> int:
        """The most bytes this process has held on its device (GPU allocations, or the CPU's RSS)."""
        return peak_memory_bytes(self.placement.device)

    @property
    def _reduce_device(self) -> torch.device:
        """Where the step's totals are summed over the ranks (NCCL sums GPU tensors only)."""
        import torch

        return self.placement.device if self.placement.device.type == "cuda" else torch.device("cpu")

    def _loss(self, examples: Sequence[TrainingExample]) -> _Loss:
        if self.config.objective == "sft":
            return self._sft_loss(examples)
        if self.config.objective == "dpo":
            return self._dpo_loss(examples)
        return self._sdft_loss(examples)

    def _sdft_loss(self, examples: Sequence[TrainingExample]) -> _Loss:
        import torch

        queries = [e.query for e in examples for _ in range(self.config.rollouts_per_prompt)]
        teacher_queries = [e.teacher_query for e in examples for _ in range(self.config.rollouts_per_prompt)]
        schemas = [e.schema for e in examples for _ in range(self.config.rollouts_per_prompt)]
        # gradient checkpointing drops the cache of a forward with gradients, so the prefill
        # cannot carry the graph: sample without it, then score prompt + response in one forward
        keep_graph = not self.config.gradient_checkpointing
        with self._adapter_forwards("student"):
            with self._clock("rollout"):
                rollout = self._sample(queries, keep_graph=keep_graph, schemas=self._schemas(schemas))
            with self._clock("student"):
                if keep_graph:
                    student_logits = response_logits(self.model, rollout, self.tokenizer.pad_token_id)
                else:
                    student_logits = self._response_logits(self._batch(queries, rollout.responses))
        with self._clock("teacher"):
            teacher = self._batch(teacher_queries, rollout.responses)
            with torch.inference_mode(), self._adapter_forwards("teacher"):
                teacher_logits = self._response_logits(teacher)
        with self._clock("loss"):
            mask = response_mask(teacher.response_lengths, teacher.response_width, self.config.mask_first_tokens)
            allowed = rollout.allowed
            per_token = per_token_divergence(
                student_logits, teacher_logits, self.config.divergence, self.config.jsd_beta, allowed
            )
            loss = masked_mean(per_token, mask)
            with torch.no_grad():
                kl = (
                    loss.detach()
                    if self.config.divergence == "reverse"
                    else masked_mean(
                        per_token_divergence(student_logits, teacher_logits, "reverse", allowed=allowed), mask
                    )
                )
        return _Loss(loss, float(kl), int(teacher.response_lengths.sum()), float(mask.sum()))

    def _sft_loss(self, examples: Sequence[TrainingExample]) -> _Loss:
        import torch

        eos = self.tokenizer.eos_token or ""
        targets = [self._encode(e.target + eos) for e in examples]
        batch = self._batch([e.query for e in examples], targets)
        with self._clock("student"), self._adapter_forwards("student"):
            logits = self._response_logits(batch)
        labels = batch.ids[:, batch.prompt_width : batch.prompt_width + batch.response_width]
        mask = response_mask(batch.response_lengths, batch.response_width, 0)
        losses = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none"
        ).view_as(mask)
        return _Loss(masked_mean(losses, mask), float("nan"), int(batch.response_lengths.sum()), float(mask.sum()))

    def _dpo_loss(self, examples: Sequence[TrainingExample]) -> _Loss:
        """The batch's DPO loss, its mean reward margin (``beta`` x the log-ratio gap) and its response tokens."""
        import torch

        with self._clock("student"), self._adapter_forwards("student"):
            policy_chosen, policy_rejected, tokens = self._pair_logprobs(examples)
        with self._clock("teacher"), torch.no_grad(), self.model.disable_adapter():
            ref_chosen, ref_rejected, _ = self._pair_logprobs(examples)
        rewards = self.config.dpo_beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
        loss = -torch.nn.functional.logsigmoid(rewards).mean()
        return _Loss(loss, float("nan"), tokens, float(len(examples)), float(rewards.detach().mean()))

    def preference_margins(self, examples: Sequence[TrainingExample]) -> list[float]:
        """``log pi(chosen) - log pi(rejected)`` per pair under the student: what DPO should raise."""
        import torch

        with torch.no_grad(), self._adapter_forwards("student"):
            chosen, rejected, _ = self._pair_logprobs(examples)
        return (chosen - rejected).tolist()

    def _pair_logprobs(self, examples: Sequence[TrainingExample]) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Summed log-probabilities of the chosen and the rejected texts, both halves in one forward pass."""
        import torch

        if any(not e.rejected for e in examples):
            raise TrainingError("a DPO example needs a rejected action (use preference_examples)")
        eos = self.tokenizer.eos_token or ""
        responses = [self._encode(e.target + eos) for e in examples] + [
            self._encode(e.rejected + eos) for e in examples
        ]
        batch = self._batch([e.query for e in examples] * 2, responses)
        logits = self._response_logits(batch)
        labels = batch.ids[:, batch.prompt_width : batch.prompt_width + batch.response_width]
        mask = response_mask(batch.response_lengths, batch.response_width, 0)
        token_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
        sums = (token_logprobs * mask).sum(-1)
        half = len(examples)
        return sums[:half], sums[half:], int(batch.response_lengths.sum())

    # ------------------------------------------------------------------ pieces

    def rollouts(
        self, queries: Sequence[str], *, temperature: float | None = None, schemas: Sequence[str] = ()
    ) -> list[list[int]]:
        """The active adapter's answers as token ids, sampled at ``temperature`` (default: the
        config's; greedy at 0): with the student active, the on-policy rollouts. ``schemas`` (one
        per query, see :attr:`TrainingExample.schema`) constrain them when the config does. Sampled
        in eval mode (no dropout); the model's mode is restored after."""
        training = self.model.training
        self.model.eval()
        try:
            with self._adapter_forwards(self.model.active_adapter):
                rollout = self._sample(
                    queries, temperature=temperature, keep_graph=False, schemas=self._schemas(schemas)
                )
                return rollout.responses
        finally:
            self.model.train(training)

    def _schemas(self, schemas: Sequence[str]) -> Sequence[str]:
        """``schemas`` when the config constrains rollouts, else none."""
        return schemas if self.config.constrain else ()

    def _sample(
        self,
        queries: Sequence[str],
        *,
        temperature: float | None = None,
        keep_graph: bool,
        schemas: Sequence[str] = (),
    ) -> Rollout:
        return sample(
            self.model,
            self._batch(queries, [[] for _ in queries]),
            max_new_tokens=self.config.max_new_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
            eos=self.tokenizer.eos_token_id,
            pad=self.tokenizer.pad_token_id,
            keep_graph=keep_graph,
            constraints=self._constraints.of(schemas) if schemas else (),
        )

    @contextlib.contextmanager
    def _adapter_forwards(self, adapter: str) -> Iterator[None]:
        """Forwards inside run with ``adapter``: folded into the weights when that copy is small
        (see ``FOLD_LIMIT_BYTES``), else through the LoRA layers. Gradients, where enabled,
        reach the adapter's factors either way."""
        if self._fold:
            from traj.train._fold import folded

            with folded(self._adapted, adapter):
                yield
            return
        active = self.model.active_adapter
        self.model.set_adapter(adapter)
        try:
            yield
        finally:
            self.model.set_adapter(active)
            self._freeze_teacher()

    def greedy_answers(
        self, queries: Sequence[str], *, teacher: bool = False, schemas: Sequence[str] = ()
    ) -> list[str]:
        """Greedy answers of the student (or the teacher) as text, under ``schemas`` when the
        config constrains: the step-0 accuracy check."""
        self.model.set_adapter("teacher" if teacher else "student")
        try:
            answers = self.rollouts(queries, temperature=0.0, schemas=schemas)
        finally:
            self.model.set_adapter("student")
            self._freeze_teacher()
        return [self.tokenizer.decode(answer, skip_special_tokens=True) for answer in answers]

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _batch(self, queries: Sequence[str], responses: list[list[int]]) -> TokenBatch:
        prompts = [self._encode(chat_text(self.tokenizer, q)) for q in queries]
        return pack(prompts, responses, self.tokenizer.pad_token_id, device=self.placement.device)

    def _response_logits(self, batch: TokenBatch) -> torch.Tensor:
        """Logits predicting each response token: positions prompt_width-1 .. end-1.

        Only those positions go through the LM head (``logits_to_keep``): the prompt's logits
        would cost prompt length x vocabulary floats per row and are never used."""
        keep = batch.response_width + 1
        logits = self.model(
            input_ids=batch.ids,
            attention_mask=batch.mask,
            position_ids=batch.positions,
            logits_to_keep=keep,
            use_cache=False,  # a training forward has no next token: keeping every layer's K/V costs time and memory
        ).logits
        return logits[:, :-1].float()

    def _lora_pairs(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(student, teacher) LoRA factors of every adapted module, with the student's scale and
        the module's path in the base model (``model.layers.0.self_attn.q_proj``) and its site
        (parent module, attribute name, LoRA layer) for folding."""
        pairs = []
        for name, module in self.model.named_modules():
            if hasattr(module, "lora_A") and "student" in getattr(module, "lora_A", {}):
                student = {
                    "A": module.lora_A["student"].weight,
                    "B": module.lora_B["student"].weight,
                    "scale": module.scaling["student"],
                    "path": name.removeprefix("base_model.model."),
                    "site": (self.model.get_submodule(name.rpartition(".")[0]), name.rpartition(".")[2], module),
                }
                teacher = {"A": module.lora_A["teacher"].weight, "B": module.lora_B["teacher"].weight}
                pairs.append((student, teacher))
        return pairs

    def teacher_factors(self) -> dict[str, tuple[Any, Any]]:
        """The teacher's EMA delta per module path as ``(U, V)`` numpy arrays (``delta = U @ V``)."""
        return {
            s["path"]: (t["B"].detach().float().cpu().numpy().copy(), t["A"].detach().float().cpu().numpy().copy())
            for s, t in self._pairs
        }

    def _freeze_teacher(self) -> None:
        for _, teacher in self._pairs:
            teacher["A"].requires_grad_(False)
            teacher["B"].requires_grad_(False)
        for parameter in self.student_parameters:
            parameter.requires_grad_(True)

    def update_teacher(self) -> tuple[float, float]:
        """Move the teacher's delta ``ema_alpha`` of the way to the student's; returns the
        Frobenius norm of the move and the largest relative truncation error."""
        import torch

        with torch.no_grad():
            updated, moved, worst = ema_update_modules(
                [(t["B"], t["A"]) for _, t in self._pairs],
                [(s["B"], s["A"]) for s, _ in self._pairs],
                alpha=self.config.ema_alpha,
                scale=self._pairs[0][0]["scale"],
            )
            for (_, teacher), (new_u, new_v) in zip(self._pairs, updated, strict=True):
                teacher["B"].copy_(new_u)
                teacher["A"].copy_(new_v)
        return moved, worst

    def delta_norms(self) -> tuple[float, float]:
        """Frobenius norms of the student's and the teacher's whole weight deltas."""
        import torch

        student_sq = teacher_sq = 0.0
        with torch.no_grad():
            for student, teacher in self._pairs:
                student_sq += float(torch.linalg.norm(student["scale"] * student["B"] @ student["A"])) ** 2
                teacher_sq += float(torch.linalg.norm(teacher["B"] @ teacher["A"])) ** 2
        return math.sqrt(student_sq), math.sqrt(teacher_sq)

    def start_from(self, directory: str | Path) -> None:
        """Start the student at a trained PEFT adapter instead of zero, and the EMA teacher at the
        same delta: continual learning trains task B on top of task A's adapter."""
        import torch

        weights, scale = _peft_weights(directory)
        if len(weights) != 2 * len(self._pairs):
            raise TrainingError(
                f"the adapter at {directory} adapts {len(weights) // 2} modules, this trainer {len(self._pairs)}: "
                "train with the same target modules"
            )
        with torch.no_grad():
            for student, teacher in self._pairs:
                prefix = f"base_model.model.{student['path']}"
                a, b = weights.get(f"{prefix}.lora_A.weight"), weights.get(f"{prefix}.lora_B.weight")
                if a is None or b is None or a.shape != student["A"].shape or b.shape != student["B"].shape:
                    raise TrainingError(
                        f"the adapter at {directory} does not fit {student['path']}: "
                        f"train with its rank and target modules (this trainer has rank {self.config.rank})"
                    )
                if abs(scale - student["scale"]) > 1e-9:
                    raise TrainingError(
                        f"the adapter at {directory} has lora_alpha/r = {scale:g}, this trainer {student['scale']:g}"
                    )
                student["A"].copy_(a)
                student["B"].copy_(b)
                rank = a.shape[0]
                teacher["A"].zero_()
                teacher["B"].zero_()
                teacher["A"][:rank] = a
                teacher["B"][:, :rank] = student["scale"] * b  # the teacher's own scale is 1

    def checkpoint(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly where this one is: both adapters
        (student and EMA teacher), the optimizer and schedule state, the RNG states, the step."""
        import torch

        state = {
            "backend": "torch",
            "step": self.steps_done,
            "adapters": {
                name: parameter.detach().cpu().clone()
                for name, parameter in self.model.named_parameters()
                if ".student." in name or ".teacher." in name
            },
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "grad_scaler": self._scaler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
        }
        if self.placement.device.type == "cuda":  # the sampler draws on the GPU's generator
            state["cuda_rng"] = torch.cuda.get_rng_state(self.placement.device)
        return state

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a :meth:`checkpoint` of a trainer with the same model and config."""
        import torch

        if state.get("backend") != "torch":
            raise TrainingError(f"a {state.get('backend')} checkpoint cannot resume the torch trainer")
        parameters = dict(self.model.named_parameters())
        missing = set(state["adapters"]) ^ {n for n in parameters if ".student." in n or ".teacher." in n}
        if missing:
            raise TrainingError(f"the checkpoint does not fit this model: {len(missing)} adapter tensors differ")
        with torch.no_grad():
            for name, value in state["adapters"].items():
                parameters[name].copy_(value)
        self.optimizer.load_state_dict(state["optimizer"])  # moves its tensors to the parameters' device
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("grad_scaler"):
            self._scaler.load_state_dict(state["grad_scaler"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and self.placement.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.placement.device)
        random.setstate(state["python_rng"])
        self.steps_done = state["step"]

    def save_student(self, directory: str | Path) -> Path:
        """Save the student adapter as an ordinary PEFT adapter directory (adapter name ``default``)."""
        import shutil
        import tempfile

        directory = Path(directory)
        with tempfile.TemporaryDirectory() as scratch:
            self.model.save_pretrained(scratch, selected_adapters=["student"])
            saved = Path(scratch) / "student"
            directory.mkdir(parents=True, exist_ok=True)
            for item in saved.iterdir():
                shutil.copy2(item, directory / item.name)
        return directory


def _peft_weights(directory: str | Path) -> tuple[dict[str, Any], float]:
    """The LoRA tensors of a PEFT adapter directory and its scale (``lora_alpha / r``)."""
    import json

    from safetensors.torch import load_file

    directory = Path(directory)
    try:
        settings = json.loads((directory / "adapter_config.json").read_text())
        weights = load_file(directory / "adapter_model.safetensors")
    except (OSError, ValueError) as exc:
        raise TrainingError(f"no PEFT adapter at {directory}: {exc}") from None
    return weights, float(settings["lora_alpha"]) / float(settings["r"])
