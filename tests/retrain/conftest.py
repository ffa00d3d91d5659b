"""A plain training loop, the part of an engine the retraining pieces meet: it calls a
callback with (iteration, model) before the first step and after every step, and keeps a
mask's removed weights at zero with `keep_pruned_at_zero`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import nn

from propensity.models import MLP, initialize
from propensity.pruning.masked_training import keep_pruned_at_zero

INPUTS, CLASSES = (1, 4, 4), 3


def mlp(width: float = 0.1) -> nn.Module:
    return MLP(width, INPUTS, CLASSES)


def initialized(init_seed: int = 0, width: float = 0.1) -> nn.Module:
    return initialize(mlp(width), "glorot", init_seed)


def data(seed: int = 0, n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, *INPUTS, generator=g)
    y = (x.flatten(1)[:, :CLASSES] * torch.tensor([1.0, -1.0, 0.5])).argmax(1)
    return x, y


def train(
    model: nn.Module,
    steps: int,
    *,
    masks: Mapping[str, torch.Tensor] | None = None,
    callback: Callable[[int, nn.Module], None] | None = None,
    optimizer: str = "sgd",
    batch_seed: int = 0,
) -> nn.Module:
    """`steps` optimiser steps on minibatches of 16 drawn from `batch_seed`, in place."""
    x, y = data()
    parameters = dict(model.named_parameters())
    opt = (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
           if optimizer == "sgd" else torch.optim.Adam(model.parameters(), lr=0.01))
    if masks is not None:
        keep_pruned_at_zero(opt, [(parameters[name], mask) for name, mask in masks.items()])
    order = torch.Generator().manual_seed(batch_seed)
    if callback is not None:
        callback(0, model)
    for step in range(1, steps + 1):
        batch = torch.randint(0, len(x), (16,), generator=order)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
        opt.step()
        if callback is not None:
            callback(step, model)
    return model


def bitwise_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal bit for bit (``-0.0`` differs from ``+0.0``, which ``torch.equal`` calls equal)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.is_floating_point():
        ints = {torch.float32: torch.int32, torch.float64: torch.int64}[a.dtype]
        return torch.equal(a.view(ints), b.view(ints))
    return torch.equal(a, b)


def states_bitwise_equal(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(bitwise_equal(a[k].cpu(), b[k].cpu()) for k in a)
