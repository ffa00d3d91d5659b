"""Pruning whole hidden units instead of single weights (sections 2 and 6).

The paper's closest related work (Casper et al. 2021, its reference 2) ablates whole units;
pruning them asks whether the propensity for density depends on the granularity. A hidden
unit (an MLP neuron, a convolution's output channel) is ranked by the L2 norm of its incoming
weights and, as the paper prunes weights, level k removes ``round(k * step * n)`` of the n
units of every hidden layer, the smallest first; output units are never removed.

Removing a unit zeroes its incoming weights, its outgoing weights, its bias and its
BatchNorm scale and shift, so the model's output equals that of the model rebuilt without the
unit (the tests build that smaller model by hand). The *weight* density a level implies is the
fraction of prunable weights left in that smaller model (an incoming or outgoing weight of a
removed unit is gone); the *unit density* is the fraction of hidden units left. The
trajectory's ``density`` is the weight density, so the effective density compares with every
weight criterion; ``unit_density`` rides beside it.

ResNet: the identity shortcuts add the stem's channels to every block's output, so a channel
of that residual stream is one unit across the stem and the three blocks' second
convolutions (its incoming weights are all of theirs; it is zero everywhere or nowhere). Each
block's inner channels are units of their own. With BatchNorm the norm of a convolution's
weights is partly arbitrary (BatchNorm rescales it; Torch-Pruning's BN-scale criterion ranks by
|gamma| instead); the incoming norm is kept for all three architectures, so that whole units
are one criterion across them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from propensity.models import MLP, Conv2, ResNet
from propensity.pruning.evaluation import batches_of, evaluate, one_model
from propensity.pruning.masks import Schedule, kept_count, last_level
from propensity.pruning.measure import SWEEP_BATCH
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.trajectory import Trajectory

Split = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Part:
    """Unit j of a group owns ``[j * per_unit, (j + 1) * per_unit)`` along `dim` of `param`."""

    param: str
    dim: int
    per_unit: int = 1


@dataclass(frozen=True)
class UnitGroup:
    """Hidden units removed together by index: their incoming and outgoing weights (prunable)
    and their per-unit parameters (biases, BatchNorm scale and shift)."""

    name: str
    size: int
    incoming: tuple[Part, ...]
    outgoing: tuple[Part, ...]
    extras: tuple[Part, ...] = ()


def _linear(name: str, layer: nn.Linear, following: str, bias: bool = True) -> UnitGroup:
    return UnitGroup(name, layer.out_features, (Part(f"{name}.weight", 0),),
                     (Part(f"{following}.weight", 1),), (Part(f"{name}.bias", 0),) if bias else ())


def unit_groups(model: nn.Module) -> list[UnitGroup]:
    """The hidden-unit groups of one of the paper's architectures (section 3.1)."""
    if isinstance(model, MLP):
        return [_linear("fc1", model.fc1, "fc2"), _linear("fc2", model.fc2, "proj")]
    if isinstance(model, Conv2):
        c = model.conv1.out_channels
        per_channel = model.fc1.in_features // c
        return [
            UnitGroup("conv1", c, (Part("conv1.weight", 0),), (Part("conv2.weight", 1),),
                      (Part("conv1.bias", 0),)),
            UnitGroup("conv2", c, (Part("conv2.weight", 0),), (Part("fc1.weight", 1, per_channel),),
                      (Part("conv2.bias", 0),)),
            _linear("fc1", model.fc1, "fc2"),
            _linear("fc2", model.fc2, "proj"),
        ]
    if isinstance(model, ResNet):
        blocks = [f"blocks.{i}" for i in range(len(model.blocks))]
        stream = UnitGroup(
            "stream", model.stem.out_channels,
            (Part("stem.weight", 0), *(Part(f"{b}.conv2.weight", 0) for b in blocks)),
            (*(Part(f"{b}.conv1.weight", 1) for b in blocks), Part("proj.weight", 1)),
            (Part("bn.weight", 0), Part("bn.bias", 0),
             *(Part(f"{b}.bn2.{p}", 0) for b in blocks for p in ("weight", "bias"))),
        )
        inner = [UnitGroup(f"{b}.inner", model.stem.out_channels, (Part(f"{b}.conv1.weight", 0),),
                           (Part(f"{b}.conv2.weight", 1),),
                           (Part(f"{b}.bn1.weight", 0), Part(f"{b}.bn1.bias", 0)))
                 for b in blocks]
        return [stream, *inner]
    raise ValueError(f"unit pruning knows MLP, Conv2 and ResNet, not {type(model).__name__}")


def _rows(tensor: torch.Tensor, part: Part, size: int) -> torch.Tensor:
    """`tensor` as ``size x ...``: unit j's entries of `part` in row j."""
    moved = tensor.detach().movedim(part.dim, 0)
    return moved.reshape(size, -1)


def unit_orders(model: nn.Module, groups: Sequence[UnitGroup]) -> list[torch.Tensor]:
    """Per group, its units from the smallest incoming L2 norm to the largest (stable sort)."""
    params = dict(model.named_parameters())
    orders = []
    for group in groups:
        squared = sum(_rows(params[p.param], p, group.size).square().sum(dim=1) for p in group.incoming)
        orders.append(torch.sort(torch.as_tensor(squared), stable=True).indices)
    return orders


def unit_masks(
    model: nn.Module, groups: Sequence[UnitGroup], removed: Sequence[torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Boolean masks (True = kept) of every parameter touched when the units `removed[g]` of
    each group g go: incoming and outgoing weights, biases, BatchNorm scale and shift."""
    params = dict(model.named_parameters())
    masks: dict[str, torch.Tensor] = {}
    for group, units in zip(groups, removed, strict=True):
        for part in (*group.incoming, *group.outgoing, *group.extras):
            param = params[part.param]
            mask = masks.setdefault(part.param, torch.ones_like(param, dtype=torch.bool))
            index = (units.view(-1, 1) * part.per_unit
                     + torch.arange(part.per_unit, device=units.device)).reshape(-1)
            mask.index_fill_(part.dim, index.to(param.device), False)
    return masks


@torch.no_grad()
def unit_trajectory(
    model: nn.Module,
    splits: Sequence[Split],
    step: float = 0.02,
    schedule: Schedule = "original",
    min_density: float = 0.01,
    batch_size: int = SWEEP_BATCH,
) -> Trajectory:
    """Accuracy and loss of `model` at every unit-pruning level, on `splits` (validation, then
    optionally test), weights and modes restored bitwise afterwards.

    ``density``/``remaining_weights``: the weights left in the model rebuilt without the
    removed units; ``extra["unit_density"]``: the fraction of hidden units left.
    """
    groups = unit_groups(model)
    orders = unit_orders(model, groups)
    params = dict(model.named_parameters())
    weights = [name for name, _ in prunable_weights(model)]
    total = sum(params[name].numel() for name in weights)
    units = sum(g.size for g in groups)
    originals = {name: p.detach().clone() for name, p in params.items()}
    modes = {m: m.training for m in model.modules()}
    forward = one_model(model)
    rows, density, remaining, unit_density = [], [], [], []
    try:
        model.eval()
        for level in range(last_level(step, schedule, min_density) + 1):
            removed = [order[: g.size - kept_count(g.size, level, step, schedule)]
                       for g, order in zip(groups, orders, strict=True)]
            masks = unit_masks(model, groups, removed)
            for name, mask in masks.items():
                params[name].mul_(mask)
            kept = total - sum(int((~masks[n]).sum()) for n in weights if n in masks)
            remaining.append(kept)
            density.append(kept / total)
            unit_density.append(sum(g.size - len(r) for g, r in zip(groups, removed, strict=True)) / units)
            rows.append([evaluate(forward, batches_of(x, y, batch_size)).sums()[0] for x, y in splits])
    finally:
        for name, p in params.items():
            p.copy_(originals[name])
        for m, training in modes.items():
            m.training = training
    sizes = [len(x) for x, _ in splits]
    mean = [[(row[j] / sizes[j]).tolist() for j in range(len(splits))] for row in rows]
    test = len(splits) > 1
    return Trajectory(
        level=list(range(len(rows))),
        density=density,
        remaining_weights=remaining,
        val_acc=[m[0][0] for m in mean],
        val_loss=[m[0][1] for m in mean],
        test_acc=[m[1][0] for m in mean] if test else None,
        test_loss=[m[1][1] for m in mean] if test else None,
        method="units",
        extra={"unit_density": unit_density},
    )
