"""What a run's memory goes to, per component, recorded in ``train.started``.

The fixed parts are counted from the tensors themselves (the frozen base, both adapters, the
gradients and AdamW's two moments, the folded copy when the trainer folds); the parts that grow
with the batch are computed from the model's shape for one micro-batch: the float32 logits the
divergence reads (student and teacher, and their log-softmaxes) and the key/value cache per
thousand prompt tokens. Activations kept for the backward are not estimated: they depend on
the prompts' lengths (``gradient_checkpointing`` keeps one layer's worth instead of all).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from traj.train._config import SdftConfig

__all__ = ["memory_budget"]

_FLOAT32 = 4
_LOGIT_COPIES = 4  # student and teacher logits, and the log-softmax of each


def memory_budget(model: Any, config: SdftConfig, *, folded_bytes: int, rows: int) -> dict[str, int]:
    """Bytes per component of a PEFT model with ``student`` and ``teacher`` adapters, for
    micro-batches of ``rows`` rollouts."""
    student = sum(p.nbytes for n, p in model.named_parameters() if ".student." in n)
    teacher = sum(p.nbytes for n, p in model.named_parameters() if ".teacher." in n)
    base = sum(p.nbytes for n, p in model.named_parameters() if ".student." not in n and ".teacher." not in n)
    base += sum(b.nbytes for b in model.buffers())
    shape = model.config.get_text_config()
    heads = getattr(shape, "num_attention_heads", 1)
    head_dim = getattr(shape, "head_dim", None) or shape.hidden_size // heads
    kv_heads = getattr(shape, "num_key_value_heads", None) or heads
    element = model.get_input_embeddings().weight.element_size()  # the cache takes the base's dtype
    return {
        "base_weights": base,
        "student_adapter": student,
        "teacher_adapter": teacher,
        "gradients": student,
        "optimizer_state": 2 * student,
        "folded_weights": folded_bytes,
        "logits_per_micro_batch": _LOGIT_COPIES * rows * config.max_new_tokens * shape.vocab_size * _FLOAT32,
        "kv_cache_per_1k_prompt_tokens": rows * shape.num_hidden_layers * 2 * kv_heads * head_dim * 1000 * element,
    }
