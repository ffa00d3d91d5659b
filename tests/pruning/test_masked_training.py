"""Removed weights stay exactly zero through SGD, Adam and Adagrad steps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from propensity.pruning.masked_training import keep_pruned_at_zero

OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2),
    "adam": lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=1e-2),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.05),
    "adagrad": lambda p: torch.optim.Adagrad(p, lr=0.1, weight_decay=1e-2),
}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _masks(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [(p, torch.rand(p.shape, generator=g) > 0.5) for n, p in model.named_parameters()
            if n.endswith("weight")]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_removed_weight_is_exactly_zero_after_every_step(name: str) -> None:
    model = _model()
    pairs = _masks(model)
    before = [w.detach().clone() for w, _ in pairs]
    optimizer = OPTIMIZERS[name](model.parameters())
    keep_pruned_at_zero(optimizer, pairs)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    for _ in range(20):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        for weight, mask in pairs:
            removed = weight.detach()[~mask]
            assert torch.equal(removed, torch.zeros_like(removed))
            assert not any(math.copysign(1.0, v) < 0 for v in removed.tolist())  # +0.0, not -0.0
    for (weight, mask), start in zip(pairs, before, strict=True):
        assert not torch.equal(weight.detach()[mask], start[mask])  # the kept weights trained


def test_without_the_hooks_adam_moves_removed_weights() -> None:
    """The control: zeroing once before training is not enough."""
    model = _model()
    pairs = _masks(model)
    with torch.no_grad():
        for weight, mask in pairs:
            weight[~mask] = 0.0
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    assert any(bool(weight.detach()[~mask].abs().sum() > 0) for weight, mask in pairs)


def test_removed_positions_build_no_optimiser_state_and_hooks_lift() -> None:
    model = _model()
    pairs = _masks(model)
    optimizer = torch.optim.Adagrad(model.parameters(), lr=0.1)
    hooks = keep_pruned_at_zero(optimizer, pairs)
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    for weight, mask in pairs:
        state = optimizer.state[weight]["sum"]
        assert torch.equal(state[~mask], torch.zeros_like(state[~mask]))
    hooks.remove()
    optimizer.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    assert any(bool(weight.detach()[~mask].abs().sum() > 0) for weight, mask in pairs)


def test_a_stacked_cohort_weight_with_stacked_masks() -> None:
    weight = nn.Parameter(torch.randn(3, 4, 5))
    mask = torch.rand(3, 4, 5, generator=torch.Generator().manual_seed(2)) > 0.3
    optimizer = torch.optim.Adam([weight], lr=0.1)
    keep_pruned_at_zero(optimizer, [(weight, mask)])
    for _ in range(5):
        optimizer.zero_grad()
        (weight ** 2).sum().neg().backward()
        optimizer.step()
    assert torch.equal(weight.detach()[~mask], torch.zeros(int((~mask).sum())))


def test_a_mask_that_is_not_boolean_or_not_shaped_like_its_weight_is_refused() -> None:
    weight = nn.Parameter(torch.randn(2, 2))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    with pytest.raises(ValueError, match="must be boolean"):
        keep_pruned_at_zero(optimizer, [(weight, torch.ones(2, 2))])
    with pytest.raises(ValueError, match="shape"):
        keep_pruned_at_zero(optimizer, [(weight, torch.ones(3, 2, dtype=torch.bool))])
