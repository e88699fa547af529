"""Self-Distillation Fine-Tuning of a LoRA adapter with torch + PEFT (Shenfeld et al., 2026).

One PEFT model holds two adapters over one frozen base:

- ``student``: the adapter being trained, conditioned on the agent's prompt alone;
- ``teacher``: an EMA of the student's weight delta, conditioned on the same prompt with the
  demonstration inserted (``SdftItem.teacher_query``).

Per step the student samples one on-policy rollout per prompt; both models score the
student's tokens; the loss is the per-token divergence over the full vocabulary
(:mod:`traj.train._divergence`), the first ``mask_first_tokens`` response tokens masked;
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
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from traj.errors import TrainingError
from traj.prompt import chat_text
from traj.train._config import SdftConfig, StepMetrics, TrainingExample
from traj.train._divergence import masked_mean, per_token_divergence, response_mask
from traj.train._ema import ema_update_modules
from traj.train._memory import retain_freed_memory
from traj.train._rollout import Rollout, TokenBatch, pack, response_logits, sample

if TYPE_CHECKING:
    import torch

__all__ = ["FOLD_LIMIT_BYTES", "SdftTrainer"]

FOLD_LIMIT_BYTES = 256 << 20
"""Fold an adapter into a copy of the adapted weights (:mod:`traj.train._fold`) up to this size
(plain ``torch.nn.Linear`` base layers only).

In a small model each LoRA layer's extra ops and dispatch cost more than its matmul, and the
copy is cheap (13.6 MB for the tiny model). In a large one the matmuls dominate, the LoRA
path adds little, and the copy would be a second model."""


def _disable_dropout(model: torch.nn.Module) -> None:
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


class SdftTrainer:
    """The training state: base model, student and teacher adapters, optimizer and schedule."""

    def __init__(self, model_dir: str | Path, config: SdftConfig | None = None, *, total_steps: int = 1) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        retain_freed_memory()
        config = config or SdftConfig()
        self.config = config
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
            base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise TrainingError(f"cannot load the base model at {model_dir}: {exc}") from None
        self.tokenizer.model_max_length = 1 << 30
        _disable_dropout(base)
        present = {name.rsplit(".", 1)[-1] for name, _ in base.named_modules()}
        targets = [m for m in config.target_modules if m in present]
        if not targets:
            raise TrainingError(f"none of the target modules {list(config.target_modules)} is in the model")
        with warnings.catch_warnings():  # PEFT calls a transformers API deprecated in 5.x
            warnings.simplefilter("ignore", FutureWarning)
            self.model = get_peft_model(
                base,
                LoraConfig(r=config.rank, lora_alpha=config.lora_alpha, target_modules=targets, lora_dropout=0.0),
                adapter_name="student",
            )
        teacher_rank = config.teacher_rank or 2 * config.rank
        self.model.add_adapter("teacher", LoraConfig(r=teacher_rank, lora_alpha=teacher_rank, target_modules=targets))
        self._pairs = self._lora_pairs()
        self._adapted = [s["site"] for s, _ in self._pairs]
        bases = [layer.base_layer for _, _, layer in self._adapted]
        # only plain linear layers fold: GPT-2's Conv1D stores W transposed, quantized ones packed
        plain = all(type(base) is torch.nn.Linear for base in bases)
        self._fold = plain and sum(base.weight.nbytes for base in bases) <= FOLD_LIMIT_BYTES
        with torch.no_grad():
            for _, teacher in self._pairs:  # the teacher starts where the student does: no delta
                teacher["A"].zero_()
                teacher["B"].zero_()
        self.model.set_adapter("student")
        self.student_parameters = [p for n, p in self.model.named_parameters() if ".student." in n]
        for name, parameter in self.model.named_parameters():
            parameter.requires_grad_(".student." in name)
        self.optimizer = torch.optim.AdamW(self.student_parameters, lr=config.learning_rate, weight_decay=0.0)
        warmup = max(1, int(total_steps * config.warmup_ratio))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda i: min(1.0, (i + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, i / max(1, total_steps)))),
        )
        self.steps_done = 0

    # ------------------------------------------------------------------ the step

    def step(self, examples: Sequence[TrainingExample]) -> StepMetrics:
        """One optimizer step on ``examples`` (the KL it reports is measured before the update)."""
        import torch

        started = time.perf_counter()
        self.model.train()
        margin = None
        if self.config.objective == "sft":
            loss, kl, tokens = self._sft_loss(examples)
        elif self.config.objective == "dpo":
            loss, margin, tokens = self._dpo_loss(examples)
            kl = float("nan")
        else:
            loss, kl, tokens = self._sdft_loss(examples)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.student_parameters, self.config.grad_clip))
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        drift, truncation = self.update_teacher() if self.config.objective == "sdft" else (0.0, 0.0)
        self.steps_done += 1
        seconds = time.perf_counter() - started
        return StepMetrics(
            step=self.steps_done - 1,
            loss=float(loss.detach()),
            kl=kl,
            grad_norm=grad_norm,
            lr=lr,
            tokens_per_s=tokens / seconds if seconds > 0 else 0.0,
            teacher_drift=drift,
            ema_truncation=truncation,
            response_tokens=tokens,
            margin=margin,
        )

    def _sdft_loss(self, examples: Sequence[TrainingExample]) -> tuple[torch.Tensor, float, int]:
        import torch

        queries = [e.query for e in examples for _ in range(self.config.rollouts_per_prompt)]
        teacher_queries = [e.teacher_query for e in examples for _ in range(self.config.rollouts_per_prompt)]
        with self._adapter_forwards("student"):
            rollout = self._sample(queries, keep_graph=True)
            student_logits = response_logits(self.model, rollout, self.tokenizer.pad_token_id)
        responses = rollout.responses
        teacher = self._batch(teacher_queries, responses)
        with torch.inference_mode(), self._adapter_forwards("teacher"):
            teacher_logits = self._response_logits(teacher)
        mask = response_mask(teacher.response_lengths, teacher.response_width, self.config.mask_first_tokens)
        per_token = per_token_divergence(student_logits, teacher_logits, self.config.divergence, self.config.jsd_beta)
        loss = masked_mean(per_token, mask)
        with torch.no_grad():
            kl = (
                loss.detach()
                if self.config.divergence == "reverse"
                else masked_mean(per_token_divergence(student_logits, teacher_logits, "reverse"), mask)
            )
        return loss, float(kl), int(teacher.response_lengths.sum())

    def _sft_loss(self, examples: Sequence[TrainingExample]) -> tuple[torch.Tensor, float, int]:
        import torch

        eos = self.tokenizer.eos_token or ""
        targets = [self._encode(e.target + eos) for e in examples]
        batch = self._batch([e.query for e in examples], targets)
        with self._adapter_forwards("student"):
            logits = self._response_logits(batch)
        labels = batch.ids[:, batch.prompt_width : batch.prompt_width + batch.response_width]
        mask = response_mask(batch.response_lengths, batch.response_width, 0)
        losses = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), reduction="none"
        ).view_as(mask)
        return masked_mean(losses, mask), float("nan"), int(batch.response_lengths.sum())

    def _dpo_loss(self, examples: Sequence[TrainingExample]) -> tuple[torch.Tensor, float, int]:
        """The batch's DPO loss, its mean reward margin (``beta`` x the log-ratio gap) and its response tokens."""
        import torch

        with self._adapter_forwards("student"):
            policy_chosen, policy_rejected, tokens = self._pair_logprobs(examples)
        with torch.no_grad(), self.model.disable_adapter():
            ref_chosen, ref_rejected, _ = self._pair_logprobs(examples)
        rewards = self.config.dpo_beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
        loss = -torch.nn.functional.logsigmoid(rewards).mean()
        return loss, float(rewards.detach().mean()), tokens

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

    def rollouts(self, queries: Sequence[str], *, temperature: float | None = None) -> list[list[int]]:
        """The active adapter's answers as token ids, sampled at ``temperature`` (default: the
        config's; greedy at 0): with the student active, the on-policy rollouts. Sampled in eval
        mode (no dropout); the model's mode is restored after."""
        training = self.model.training
        self.model.eval()
        try:
            with self._adapter_forwards(self.model.active_adapter):
                return self._sample(queries, temperature=temperature, keep_graph=False).responses
        finally:
            self.model.train(training)

    def _sample(self, queries: Sequence[str], *, temperature: float | None = None, keep_graph: bool) -> Rollout:
        return sample(
            self.model,
            self._batch(queries, [[] for _ in queries]),
            max_new_tokens=self.config.max_new_tokens,
            temperature=self.config.temperature if temperature is None else temperature,
            eos=self.tokenizer.eos_token_id,
            pad=self.tokenizer.pad_token_id,
            keep_graph=keep_graph,
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

    def greedy_answers(self, queries: Sequence[str], *, teacher: bool = False) -> list[str]:
        """Greedy answers of the student (or the teacher) as text: the step-0 accuracy check."""
        self.model.set_adapter("teacher" if teacher else "student")
        try:
            answers = self.rollouts(queries, temperature=0.0)
        finally:
            self.model.set_adapter("student")
            self._freeze_teacher()
        return [self.tokenizer.decode(answer, skip_special_tokens=True) for answer in answers]

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _batch(self, queries: Sequence[str], responses: list[list[int]]) -> TokenBatch:
        prompts = [self._encode(chat_text(self.tokenizer, q)) for q in queries]
        return pack(prompts, responses, self.tokenizer.pad_token_id)

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
        return {s["path"]: (t["B"].detach().numpy().copy(), t["A"].detach().numpy().copy()) for s, t in self._pairs}

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

        return {
            "backend": "torch",
            "step": self.steps_done,
            "adapters": {
                name: parameter.detach().clone()
                for name, parameter in self.model.named_parameters()
                if ".student." in name or ".teacher." in name
            },
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
        }

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
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
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
