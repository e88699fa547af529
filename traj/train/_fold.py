"""A LoRA adapter folded into its layers' weights: one matmul per layer, gradients still to A and B.

PEFT computes an adapted layer as ``base(x) + scale * B(A(x))``: three matmuls, a scale and
an add over every token, and the same again in the backward. In a small model those extra
ops and their dispatch cost more than the base matmul. Folded, the layer is one matmul with
``W = base + scale * B @ A`` (a new tensor: the base weights are never written).

With gradients the fold is exact too: ``dx = dy @ W`` is the base's and the LoRA path's
input gradient summed, and A and B get ``scale * (dy B)^T x`` and ``scale * dy^T (x A^T)``,
PEFT's formulas (equal up to float rounding). So the trainer folds the student for its whole
loss (prefill with graph, decode, response forward) and the teacher for its scoring.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch

__all__ = ["AdaptedLayer", "FoldedLinear", "folded"]

AdaptedLayer = tuple[torch.nn.Module, str, Any]
"""(parent module, attribute name, PEFT LoRA layer): where an adapted layer sits in the model."""


class _FoldedLoraFunction(torch.autograd.Function):
    """``x @ W^T + bias`` with ``W`` the folded weight; the gradient goes to x, A and B."""

    @staticmethod
    def forward(
        x: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        lora_a: torch.Tensor,
        lora_b: torch.Tensor,
        scale: float,
    ) -> torch.Tensor:
        return torch.nn.functional.linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, weight, _, lora_a, lora_b, scale = inputs
        ctx.save_for_backward(x, weight, lora_a, lora_b)
        ctx.scale = scale

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight, lora_a, lora_b = ctx.saved_tensors
        grad_x = grad @ weight if ctx.needs_input_grad[0] else None
        grad_rows, x_rows = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
        grad_a = grad_b = None
        if ctx.needs_input_grad[3]:
            grad_a = ((grad_rows @ lora_b).T @ x_rows).mul_(ctx.scale)
        if ctx.needs_input_grad[4]:
            grad_b = (grad_rows.T @ (x_rows @ lora_a.T)).mul_(ctx.scale)
        return grad_x, None, None, grad_a, grad_b, None


class FoldedLinear(torch.nn.Module):
    """Stands in for a PEFT LoRA layer with one of its adapters folded into the weight."""

    def __init__(self, layer: Any, adapter: str) -> None:
        super().__init__()
        base = layer.base_layer
        self.scale = float(layer.scaling[adapter])
        # a plain tuple: the factors stay the LoRA layer's parameters, not registered here again
        self.factors = (layer.lora_A[adapter].weight, layer.lora_B[adapter].weight)
        with torch.no_grad():
            self.weight = torch.addmm(base.weight, self.factors[1], self.factors[0], alpha=self.scale)
        self.bias = base.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lora_a, lora_b = self.factors
        if torch.is_grad_enabled() and (lora_a.requires_grad or lora_b.requires_grad):
            return _FoldedLoraFunction.apply(x, self.weight, self.bias, lora_a, lora_b, self.scale)
        return torch.nn.functional.linear(x, self.weight, self.bias)


@contextlib.contextmanager
def folded(layers: Sequence[AdaptedLayer], adapter: str) -> Iterator[None]:
    """Run with every adapted layer replaced by a :class:`FoldedLinear` of ``adapter``; the
    layers are put back as they were on leaving."""
    swapped = []
    try:
        for parent, name, layer in layers:
            replacement = FoldedLinear(layer, adapter)
            swapped.append((parent, name, getattr(parent, name)))
            setattr(parent, name, replacement)
        yield
    finally:
        for parent, name, previous in reversed(swapped):
            setattr(parent, name, previous)
