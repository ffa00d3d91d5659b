"""Allocations across layers against their formulas, and the paper's plan reproduced (section 6)."""

import math

import pytest
import torch

from propensity.models import MLP, Conv2, initialize
from propensity.pruning.allocation import allocate, erk_factors, erk_kept, lamp_scores, shuffled
from propensity.pruning.masks import kept_count, plan
from propensity.pruning.prunable import prunable_weights


def _named(model):
    return [n for n, _ in prunable_weights(model)], [w.detach().abs() for _, w in prunable_weights(model)]


def test_lamp_matches_its_formula_entry_by_entry():
    torch.manual_seed(0)
    w = torch.randn(5, 4)
    got = lamp_scores(w.abs())
    flat = w.reshape(-1).abs().tolist()
    for u, wu in enumerate(flat):
        tail = sum(v * v for v in flat if v >= wu)  # no ties in a continuous draw
        assert got.reshape(-1)[u].item() == pytest.approx(wu * wu / tail, rel=1e-12)
    assert got.max().item() == 1.0


def test_lamp_of_zero_scores_is_zero_and_keeps_ties_in_index_order():
    assert torch.equal(lamp_scores(torch.zeros(3)), torch.zeros(3, dtype=torch.float64))
    order = torch.sort(lamp_scores(torch.tensor([1.0, 1.0, 2.0])), stable=True).indices
    assert order.tolist() == [0, 1, 2]


def test_erk_factors_are_the_erdos_renyi_kernel_formula():
    dense, conv = torch.Size([30, 20]), torch.Size([8, 4, 3, 3])
    assert erk_factors([dense, conv]) == [50 / 600, (8 + 4 + 3 + 3) / (8 * 4 * 9)]


def test_erk_spends_the_budget_in_proportion_and_makes_overflowing_layers_dense():
    shapes = [torch.Size([100, 64]), torch.Size([50, 100]), torch.Size([10, 50])]
    sizes = [math.prod(s) for s in shapes]
    factors = erk_factors(shapes)
    total = sum(sizes) // 2
    kept = erk_kept(shapes, total)
    dense = [i for i, k in enumerate(kept) if k == sizes[i]]
    assert dense == [2]  # the 10 x 50 output layer would ask for density above 1
    eps = (total - sizes[2]) / sum(factors[i] * sizes[i] for i in (0, 1))
    assert kept[:2] == [round(eps * factors[i] * sizes[i]) for i in (0, 1)]
    assert abs(sum(kept) - total) <= len(shapes)
    assert erk_kept(shapes, 0) == [0, 0, 0] and erk_kept(shapes, sum(sizes)) == sizes


@pytest.mark.parametrize("schedule", ["original", "remaining"])
def test_layerwise_magnitude_is_the_papers_plan(schedule):
    model = initialize(MLP(0.1, (1, 8, 8), 10), "glorot", 3)
    names, scores = _named(model)
    ours = allocate("layerwise", names, scores, 0.05, schedule, 0.05)
    theirs = plan(model, "magnitude", 0.05, schedule, 0.05)
    assert torch.equal(ours.pruned, theirs.pruned)
    assert all(torch.equal(a, b) for a, b in zip(ours.orders, theirs.orders, strict=True))


@pytest.mark.parametrize("schedule", ["original", "remaining"])
def test_global_prunes_the_globally_smallest_scores_as_global_magnitude_does(schedule):
    """Checked against a sort by hand: level k prunes the schedule's count of the total, and
    those are the count smallest |w| of the whole model, wherever they lie."""
    model = initialize(MLP(0.1, (1, 8, 8), 10), "glorot", 3)
    names, scores = _named(model)
    by_hand = sorted((float(v), layer, i) for layer, s in enumerate(scores)
                     for i, v in enumerate(s.reshape(-1).tolist()))
    total = len(by_hand)
    for p in (allocate("global", names, scores, 0.05, schedule, 0.05),
              plan(model, "global_magnitude", 0.05, schedule, 0.05)):
        for k in range(p.levels):
            count = total - kept_count(total, k, 0.05, schedule)
            smallest = {(layer, i) for _, layer, i in by_hand[:count]}
            pruned = {(layer, int(i)) for layer, order in enumerate(p.orders)
                      for i in order[: int(p.pruned[k, layer])]}
            assert pruned == smallest, (p.method, k)


@pytest.mark.parametrize("allocation", ["layerwise", "global", "lamp", "erk"])
def test_every_allocation_is_nested_and_spends_the_schedules_total(allocation):
    model = initialize(Conv2(0.1, (3, 8, 8), 10), "glorot", 0)
    names, scores = _named(model)
    p = allocate(allocation, names, scores, 0.02)
    assert (p.pruned[1:] >= p.pruned[:-1]).all()
    sizes = torch.tensor([s.numel() for s in scores])
    assert (p.pruned <= sizes).all() and p.density(0) == 1.0 and p.density(p.levels - 1) == 0.0
    for k in range(p.levels):
        target = p.total - round(k * 0.02 * p.total)
        # layerwise and ERK round per layer (one weight each); the global rankings are exact
        slack = len(sizes) if allocation in ("layerwise", "erk") else 0
        assert abs(p.remaining(k) - target) <= slack


def test_lamp_prunes_by_its_scores_across_layers():
    torch.manual_seed(1)
    scores = [torch.rand(6, 4), torch.rand(3, 6)]
    p = allocate("lamp", ["a", "b"], scores, 0.25)
    lamp = torch.cat([lamp_scores(s).reshape(-1) for s in scores])
    for k in range(p.levels):
        masks = p.masks(k)
        kept = torch.cat([masks["a"].reshape(-1), masks["b"].reshape(-1)])
        if kept.any() and (~kept).any():
            assert lamp[~kept].max() <= lamp[kept].min()


def test_shuffled_keeps_the_counts_and_draws_seeded_positions():
    model = initialize(MLP(0.1, (1, 8, 8), 10), "glorot", 0)
    names, scores = _named(model)
    p = allocate("lamp", names, scores, 0.1)
    a, b, c = shuffled(p, 0), shuffled(p, 0), shuffled(p, 1)
    assert torch.equal(a.pruned, p.pruned)
    assert all(torch.equal(x, y) for x, y in zip(a.orders, b.orders, strict=False))
    assert not all(torch.equal(x, y) for x, y in zip(a.orders, c.orders, strict=False))
    assert all(torch.equal(torch.sort(o).values, torch.arange(o.numel())) for o in a.orders)
