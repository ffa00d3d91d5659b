"""IMP's levels: exact counts of the remaining weights, nested masks, the smallest retrained go."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from propensity.pruning.masks import kept_count
from propensity.retrain.imp import dense_masks, imp_last_level, imp_masks, remaining


def _weights(seed: int, shapes=((7, 5), (3, 7))) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {f"l{i}.weight": torch.randn(s, generator=g) for i, s in enumerate(shapes)}


def _imp(levels: int, allocation: str, rate: float = 0.2) -> list[dict[str, torch.Tensor]]:
    """IMP on weights redrawn at every level (as retraining would move them), masked."""
    masks = [dense_masks(_weights(0))]
    for level in range(1, levels + 1):
        retrained = {n: w * masks[-1][n] for n, w in _weights(level).items()}
        masks.append(imp_masks(retrained, masks[-1], level, rate, allocation))
    return masks


def test_last_level_reaches_the_minimum_density() -> None:
    assert imp_last_level(0.2, 0.01) == 21  # 0.8^21 = 0.0092 <= 0.01 < 0.8^20 = 0.0115
    assert imp_last_level(0.5, 0.25) == 2


@pytest.mark.parametrize("allocation", ["layerwise", "global"])
def test_masks_are_nested(allocation: str) -> None:
    masks = _imp(12, allocation)
    for before, after in itertools.pairwise(masks):
        for name in before:
            assert not (after[name] & ~before[name]).any(), name


def test_layerwise_counts_are_the_remaining_schedule_exactly() -> None:
    masks = _imp(12, "layerwise")
    for level, level_masks in enumerate(masks):
        for mask in level_masks.values():
            assert int(mask.sum()) == kept_count(mask.numel(), level, 0.2, "remaining")


def test_global_counts_the_total_and_lets_layers_differ() -> None:
    masks = _imp(12, "global")
    total = 7 * 5 + 3 * 7
    assert [remaining(m) for m in masks] == [kept_count(total, k, 0.2, "remaining") for k in range(13)]


def test_counts_round_half_to_even_on_exact_fractions() -> None:
    # 10 weights at rate 0.25: 10 * 0.75 = 7.5 keeps 8 (half to even), 10 * 0.5625 = 5.625 keeps 6
    w = {"w": torch.arange(1.0, 11.0)}
    one = imp_masks(w, dense_masks(w), 1, 0.25)
    two = imp_masks(w, one, 2, 0.25)
    assert int(one["w"].sum()) == 8 and int(two["w"].sum()) == 6


def test_removes_the_smallest_retrained_magnitudes_among_survivors() -> None:
    weights = {"w": torch.tensor([0.0, -5.0, 0.1, 3.0, -0.2, 4.0, 0.3, 2.0, -1.0, 6.0])}
    previous = torch.tensor([False, True, True, True, True, True, True, True, True, True])
    # level 2 at rate 0.2 keeps round(10 * 0.64) = 6: removes 0.1, -0.2, 0.3 besides the first
    mask = imp_masks(weights, {"w": previous}, 2, 0.2)["w"]
    assert mask.tolist() == [False, True, False, True, False, True, False, True, True, True]


def test_a_removed_weight_never_returns_even_when_it_grew() -> None:
    weights = {"w": torch.tensor([100.0, 1.0, 2.0, 3.0, 4.0])}
    previous = {"w": torch.tensor([False, True, True, True, True])}
    assert not imp_masks(weights, previous, 1, 0.2)["w"][0]


def test_ties_are_broken_by_index() -> None:
    weights = {"w": torch.ones(10)}
    assert imp_masks(weights, dense_masks(weights), 1, 0.2)["w"].tolist() == [False, False] + [True] * 8


def test_a_model_is_read_by_its_prunable_weights() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    masks = imp_masks(model, dense_masks(model), 1)
    assert sorted(masks) == ["0.weight", "2.weight"]
    assert int(masks["0.weight"].sum()) == round(24 * 0.8) and masks["0.weight"].shape == (6, 4)


def test_masks_of_another_level_are_refused() -> None:
    w = {"w": torch.randn(10)}
    later = imp_masks(w, dense_masks(w), 3)
    with pytest.raises(ValueError, match="pass the previous level's masks"):
        imp_masks(w, later, 1)
    with pytest.raises(ValueError, match="pass the previous level's masks"):
        imp_masks(w, later, 1, allocation="global")
    with pytest.raises(ValueError, match="build the masks from the weights"):
        imp_masks(w, {"v": later["w"]}, 4)
    with pytest.raises(ValueError, match="use one of layerwise, global"):
        imp_masks(w, later, 4, allocation="lamp")
