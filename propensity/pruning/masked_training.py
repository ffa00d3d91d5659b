"""Training a pruned network: the weights a mask removed stay exactly zero through every step.

Retraining a subnetwork (fine-tuning after one-shot pruning, or iterative magnitude pruning
with rewinding; Frankle and Carbin 2019, Renda et al. 2020) must never let a removed weight
come back. Zeroing the gradient is not enough: weight decay moves a zero weight through the
update itself, and Adam's or Adagrad's state, once it holds anything for a position, would
move it too. So both ends of every optimiser step are masked: before it, the gradients of
removed weights are zeroed (their optimiser state then stays what it was, zero for a fresh
optimiser); after it, the removed weights are set back to exactly ``+0.0``.

Masks are plain boolean tensors shaped like their weights (``True``: kept), so one weight and a
cohort's stacked ``[K, ...]`` weight with its stacked masks are handled alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

MaskedWeight = tuple[torch.Tensor, torch.Tensor]


def _check(pairs: Sequence[MaskedWeight]) -> None:
    for weight, mask in pairs:
        if mask.dtype != torch.bool:
            raise ValueError(f"a mask must be boolean (True: kept), not {mask.dtype}")
        if mask.shape != weight.shape:
            raise ValueError(f"a mask of shape {tuple(mask.shape)} for a weight of shape "
                             f"{tuple(weight.shape)}: build masks from the weights they prune")


@torch.no_grad()
def zero_pruned(pairs: Sequence[MaskedWeight]) -> None:
    """Set every removed weight to exactly ``+0.0`` (not ``-0.0``, as multiplying by 0 can)."""
    for weight, mask in pairs:
        weight.masked_fill_(~mask.to(weight.device), 0.0)


@torch.no_grad()
def zero_pruned_gradients(pairs: Sequence[MaskedWeight]) -> None:
    """Zero the gradients of removed weights, so no optimiser state builds up for them."""
    for weight, mask in pairs:
        if weight.grad is not None:
            weight.grad.masked_fill_(~mask.to(weight.grad.device), 0.0)


@dataclass
class PrunedAtZero:
    """The optimiser hooks that keep `pairs`' removed weights at zero; `remove` lifts them."""

    handles: list[Any] = field(default_factory=list)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


def keep_pruned_at_zero(optimizer: torch.optim.Optimizer, pairs: Sequence[MaskedWeight]) -> PrunedAtZero:
    """Zero the removed weights of `pairs` now, and around every ``optimizer.step()`` from now on.

    Works for any `torch.optim.Optimizer` (SGD with momentum and weight decay, Adam, AdamW,
    Adagrad) because it only touches gradients before the step and weights after it.
    """
    _check(pairs)
    pairs = [(weight, mask.to(weight.device)) for weight, mask in pairs]
    zero_pruned(pairs)
    before = optimizer.register_step_pre_hook(lambda *_: zero_pruned_gradients(pairs))
    after = optimizer.register_step_post_hook(lambda *_: zero_pruned(pairs))
    return PrunedAtZero([before, after])
