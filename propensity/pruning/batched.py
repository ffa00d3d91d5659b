"""Several pruning levels of an `MLP` evaluated in one pass (section 3.2's levels, batched for speed).

For K consecutive levels each layer's K masked weight matrices are stacked (K x out x in)
and the validation batch, expanded over K, goes through ``torch.baddbmm``: K accuracies and
losses from one forward. The masked copies are built from the plan's orders (the same zeros
the sequential path (`measure_trajectory`) writes in place), so the model's parameters are only read.

Only the exact `MLP` class qualifies (fc1 -> ReLU -> fc2 -> ReLU -> proj on the flattened
input); anything else, subclasses included, is left to the sequential path (`measure_trajectory`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from propensity.models import MLP
from propensity.pruning.masks import PruningPlan


def batchable(model: nn.Module) -> bool:
    """True for the plain `MLP`, whose forward is a chain of Linear layers with ReLU."""
    return type(model) is MLP


def _layers(model: MLP) -> list[nn.Linear]:
    return [model.fc1, model.fc2, model.proj]


def level_bytes(model: MLP, batch: int) -> int:
    """Memory one extra level costs: its weight copies plus one eval batch's activations."""
    layers = _layers(model)
    w = layers[0].weight
    features = layers[0].in_features + sum(m.out_features for m in layers)
    return w.element_size() * (sum(m.weight.numel() for m in layers) + batch * features)


def auto_levels(model: MLP, batch: int, memory_budget: int, levels: int) -> int:
    """The most levels at once whose weights and activations fit in `memory_budget` bytes."""
    return max(1, min(levels, memory_budget // level_bytes(model, batch)))


def _masked(weight: torch.Tensor, order: torch.Tensor, pruned: torch.Tensor) -> torch.Tensor:
    """Copies of `weight` pruned to each count in `pruned`, stacked (K x out x in)."""
    out = weight.detach().unsqueeze(0).repeat(len(pruned), 1, 1)
    flat = out.view(len(pruned), -1)
    flat[0, order[: int(pruned[0])]] = 0
    for j in range(1, len(pruned)):  # nested masks: level j adds to level j - 1's zeros
        flat[j] = flat[j - 1]
        flat[j, order[int(pruned[j - 1]) : int(pruned[j])]] = 0
    return out


def _stack(model: MLP, p: PruningPlan, levels: range) -> list[torch.Tensor]:
    """Per layer, the K masked weight matrices of `levels`."""
    stacks = []
    for i, layer in enumerate(_layers(model)):
        pruned = p.pruned[levels.start : levels.stop, i]
        stacks.append(_masked(layer.weight, p.orders[i], pruned))
    return stacks


@torch.no_grad()
def evaluate_levels(
    model: MLP,
    weights: list[torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
) -> torch.Tensor:
    """``[level, (correct, summed cross-entropy)]`` for K stacked weight sets, as a device tensor.

    The logits equal `evaluate`'s bitwise where ``baddbmm`` and ``F.linear`` run the same
    kernel (checked on CPU); the loss sums per-sample terms in another order, so it agrees
    to float32 rounding (relative 1e-6), not bitwise.
    """
    k = len(weights[0])
    biases = [m.bias.detach() for m in _layers(model)]
    total = torch.zeros(k, 2, dtype=torch.float64, device=x.device)
    for start in range(0, len(x), batch_size):
        h = x[start : start + batch_size].flatten(1)
        target = y[start : start + batch_size]
        h = h.unsqueeze(0).expand(k, *h.shape)
        for j, (w, b) in enumerate(zip(weights, biases, strict=True)):
            h = torch.baddbmm(b.view(1, 1, -1), h, w.transpose(1, 2))
            if j < len(weights) - 1:
                h = h.relu_()
        total[:, 0] += (h.argmax(dim=2) == target).sum(dim=1)
        losses = F.cross_entropy(
            h.float().reshape(-1, h.shape[2]), target.repeat(k), reduction="none"
        )
        total[:, 1] += losses.view(k, -1).sum(dim=1)
    return total


def trajectory_batched(
    p: PruningPlan,
    model: MLP,
    data: list[tuple[torch.Tensor, torch.Tensor]],
    batch_size: int,
    levels_at_once: int,
    bar: object | None,
) -> torch.Tensor:
    """Per-level ``[split, correct/loss]`` totals, `levels_at_once` levels per forward."""
    rows = []
    for start in range(0, p.levels, levels_at_once):
        levels = range(start, min(start + levels_at_once, p.levels))
        weights = _stack(model, p, levels)
        rows.append(
            torch.stack([evaluate_levels(model, weights, x, y, batch_size) for x, y in data], 1)
        )
        del weights
        if bar is not None:
            bar.update(len(levels))
    return torch.cat(rows).cpu()
