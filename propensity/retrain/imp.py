"""Iterative magnitude pruning's levels and masks (Frankle and Carbin 2019, section 2).

Each level removes a fraction `rate` of the weights the previous level kept, the smallest in
magnitude *after retraining*, so unlike the paper's one-shot trajectory (section 3.2) each
level's mask depends on the weights the previous level retrained. The counts are exact: a
layer of n weights keeps ``round(n * (1 - rate)^k)`` at level k (``fractions.Fraction`` and
round-half-even, `propensity.pruning.masks.kept_count` with the ``remaining`` schedule), the
counts the one-shot ``remaining`` schedule with step `rate` uses, so an IMP level and a one-shot
level of the same index keep the same weights per layer and compare at one density.

Masks are nested by construction: the weights a mask already removed rank below every kept
weight, so each level removes them again plus the smallest survivors.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from propensity.pruning.masks import kept_count, last_level
from propensity.pruning.prunable import prunable_weights
from propensity.retrain.settings import ALLOCATIONS

Masks = Mapping[str, torch.Tensor]


def imp_last_level(rate: float = 0.2, min_density: float = 0.01) -> int:
    """Index of IMP's last level: the first whose nominal density ``(1 - rate)^k`` is at most
    `min_density` (21 for 0.2 and 0.01, density 0.0092), as the ``remaining`` schedule reads
    "down to `min_density`"."""
    return last_level(rate, "remaining", min_density)


def named_weights(weights: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The prunable weights of a model (`prunable_weights`), or a mapping as given, detached."""
    pairs = prunable_weights(weights) if isinstance(weights, nn.Module) else weights.items()
    return {name: weight.detach() for name, weight in pairs}


def dense_masks(weights: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Level 0: every weight kept."""
    return {name: torch.ones_like(w, dtype=torch.bool) for name, w in named_weights(weights).items()}


def remaining(masks: Masks) -> int:
    """Weights the masks keep: the numerator of a level's density."""
    return sum(int(mask.sum()) for mask in masks.values())


def _ranking(weight: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """|w| of kept weights; -1 for removed ones, so they are removed first again."""
    score = weight.detach().reshape(-1).abs().to(torch.float64)
    return torch.where(mask.reshape(-1).to(score.device), score, torch.full_like(score, -1.0))


def _remove_first(scores: torch.Tensor, count: int) -> torch.Tensor:
    """A flat mask removing the `count` lowest scores (ties by index: a stable sort)."""
    keep = torch.ones_like(scores, dtype=torch.bool)
    keep[torch.sort(scores, stable=True).indices[:count]] = False
    return keep


def imp_masks(
    weights: nn.Module | Mapping[str, torch.Tensor],
    masks: Masks,
    level: int,
    rate: float = 0.2,
    allocation: str = "layerwise",
) -> dict[str, torch.Tensor]:
    """The masks of IMP level `level`, from the previous level's `masks` and the `weights`
    retrained under them (True = kept, keyed like `weights`' prunable weights).

    ``layerwise`` (the paper's allocation, section 3.2): each layer of n keeps
    ``round(n * (1 - rate)^level)``. ``global``: the model keeps that count of its total and
    the smallest retrained magnitudes across all layers go (ties by layer order, then index).
    Raises ValueError when `masks` keep fewer weights than `level` should: they are not the
    previous level's.
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"retrain.allocation={allocation!r} is unknown; use one of {', '.join(ALLOCATIONS)}")
    if level < 0:
        raise ValueError(f"level {level} is negative; IMP's levels count from 0 (the trained model)")
    named = named_weights(weights)
    if set(named) != set(masks):
        raise ValueError(f"masks name {sorted(masks)}, the weights {sorted(named)}: "
                         "build the masks from the weights they prune")
    scores = {name: _ranking(w, masks[name]) for name, w in named.items()}
    if allocation == "layerwise":
        kept = {name: kept_count(w.numel(), level, rate, "remaining") for name, w in named.items()}
        short = [name for name in named if int(masks[name].sum()) < kept[name]]
        if short:
            raise ValueError(f"the mask of {short[0]} keeps {int(masks[short[0]].sum())} weights, "
                             f"fewer than level {level}'s {kept[short[0]]}: pass the previous level's masks")
        return {name: _remove_first(scores[name], named[name].numel() - kept[name]).view(named[name].shape)
                for name in named}
    total = sum(w.numel() for w in named.values())
    kept_total = kept_count(total, level, rate, "remaining")
    if remaining(masks) < kept_total:
        raise ValueError(f"the masks keep {remaining(masks)} weights, fewer than level {level}'s "
                         f"{kept_total}: pass the previous level's masks")
    device = next(iter(scores.values())).device
    flat = _remove_first(torch.cat([s.to(device) for s in scores.values()]), total - kept_total)
    out, start = {}, 0
    for name, weight in named.items():
        out[name] = flat[start:start + weight.numel()].view(weight.shape)
        start += weight.numel()
    return out
