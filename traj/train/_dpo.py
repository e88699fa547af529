"""Direct Preference Optimisation (Rafailov et al., 2023) on the ``preference`` export.

A pair is one context (the agent's prompt at a judged step) with the corrected action
(chosen) and the action the agent took (rejected). The loss is
``-log sigmoid(beta * ((log pi(c) - log pi(r)) - (log ref(c) - log ref(r))))`` over whole
action texts (each ending in EOS, as the agent must stop after it). The reference is the
base model: the same PEFT model with its adapters switched off, so no second copy is loaded,
and since a fresh LoRA starts at zero the first step's loss is exactly ``log 2``.

It runs inside :class:`traj.train.SdftTrainer` (``objective="dpo"``) so the data path, the
events, the adapter formats and the lineage are the ones SDFT and SFT use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from traj.errors import TrainingError
from traj.train.sdft import TrainingExample

if TYPE_CHECKING:
    import torch

    from traj.eventlog import Store
    from traj.train.sdft import SdftTrainer

__all__ = ["dpo_loss", "preference_examples", "preference_margins"]


def preference_examples(store: Store, *, task: str | None = None, as_of: int | None = None) -> list[TrainingExample]:
    """The ``preference`` export's pairs (of ``task``, when given) as training examples.

    ``target`` is the chosen action, ``rejected`` the judged one; ``action_id`` is the judged
    action's event, so the adapter's lineage leads to the run it learned from.
    """
    from traj.datasets import export_dataset

    rows = export_dataset(store, "preference", as_of=as_of).table.to_pylist()
    examples = [
        TrainingExample(
            query=row["prompt"],
            teacher_query=row["prompt"],
            target=row["chosen"],
            rejected=row["rejected"],
            action_id=row["action_id"] or "",
        )
        for row in rows
        if task is None or row["task"] == task
    ]
    if not examples:
        scope = f" of task {task!r}" if task else ""
        raise TrainingError(
            f"no preference pairs{scope} in {store.home}: correct a bad step first "
            "(traj feedback RUN bad --step N --correct '{\"kind\": ...}')"
        )
    return examples


def dpo_loss(trainer: SdftTrainer, examples: Sequence[TrainingExample]) -> tuple[torch.Tensor, float, int]:
    """The batch's DPO loss, its mean reward margin (``beta`` x the log-ratio gap) and its response tokens."""
    import torch

    with trainer._adapter_forwards("student"):
        policy_chosen, policy_rejected, tokens = _pair_logprobs(trainer, examples)
    with torch.no_grad(), trainer.model.disable_adapter():
        ref_chosen, ref_rejected, _ = _pair_logprobs(trainer, examples)
    rewards = trainer.config.dpo_beta * ((policy_chosen - ref_chosen) - (policy_rejected - ref_rejected))
    loss = -torch.nn.functional.logsigmoid(rewards).mean()
    return loss, float(rewards.detach().mean()), tokens


def preference_margins(trainer: SdftTrainer, examples: Sequence[TrainingExample]) -> list[float]:
    """``log pi(chosen) - log pi(rejected)`` per pair under the student: what DPO should raise."""
    import torch

    with torch.no_grad(), trainer._adapter_forwards("student"):
        chosen, rejected, _ = _pair_logprobs(trainer, examples)
    return (chosen - rejected).tolist()


def _pair_logprobs(trainer: SdftTrainer, examples: Sequence[TrainingExample]) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Summed log-probabilities of the chosen and the rejected texts, both halves in one forward pass."""
    import torch

    from traj.train._divergence import response_mask

    if any(not e.rejected for e in examples):
        raise TrainingError("a DPO example needs a rejected action (use preference_examples)")
    eos = trainer.tokenizer.eos_token or ""
    responses = [trainer._encode(e.target + eos) for e in examples] + [
        trainer._encode(e.rejected + eos) for e in examples
    ]
    batch = trainer._batch([e.query for e in examples] * 2, responses)
    logits = trainer._response_logits(batch)
    labels = batch.ids[:, batch.prompt_width : batch.prompt_width + batch.response_width]
    mask = response_mask(batch.response_lengths, batch.response_width, 0)
    token_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    sums = (token_logprobs * mask).sum(-1)
    half = len(examples)
    return sums[:half], sums[half:], int(batch.response_lengths.sum())
