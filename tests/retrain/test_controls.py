"""The lottery-ticket controls: the same mask from new weights; random masks at the same counts."""

from __future__ import annotations

import itertools

import torch

from propensity.retrain.controls import derived_seed, random_masks, reinitialized_state
from propensity.retrain.imp import dense_masks, imp_masks
from propensity.retrain.rewind import initial_state, rewind
from tests.retrain.conftest import initialized, mlp, states_bitwise_equal, train


def test_derived_seeds_differ_by_run_and_control_and_never_are_the_runs() -> None:
    seeds = {derived_seed(c, i, s) for c in ("reinit", "random") for i in range(50) for s in range(3)}
    assert len(seeds) == 300
    assert all(derived_seed("reinit", i) != i for i in range(1000))
    assert derived_seed("reinit", 7, 1) == derived_seed("reinit", 7, 1)


def test_reinit_keeps_the_mask_and_changes_the_initial_weights() -> None:
    trained = train(initialized(init_seed=0), 10)
    masks = imp_masks(trained, dense_masks(trained), 2)
    ticket = rewind(mlp(), initial_state(mlp(), "glorot", 0), masks)
    control = rewind(mlp(), reinitialized_state(mlp(), "glorot", 0), masks)
    for name, mask in masks.items():
        t, c = dict(ticket.named_parameters())[name], dict(control.named_parameters())[name]
        assert torch.equal(t != 0, mask) and torch.equal(c != 0, mask)  # same mask
        assert not torch.equal(t[mask], c[mask])  # different initial weights
        bound = (6 / sum(mask.shape)) ** 0.5  # Glorot's bound: the run's scheme
        assert c.abs().max() <= bound
    assert states_bitwise_equal(reinitialized_state(mlp(), "glorot", 0),
                                initial_state(mlp(), "glorot", derived_seed("reinit", 0)))


def test_random_masks_keep_the_per_layer_counts_elsewhere_and_nest() -> None:
    weights = {"a": torch.randn(20, 10), "b": torch.randn(3, 20)}
    levels = [dense_masks(weights)]
    for level in range(1, 8):
        levels.append(imp_masks({n: w * levels[-1][n] for n, w in weights.items()}, levels[-1], level))
    randoms = [random_masks(m, seed=5) for m in levels]
    for imp, rnd in zip(levels, randoms, strict=True):
        for name in imp:
            assert int(rnd[name].sum()) == int(imp[name].sum()) and rnd[name].shape == imp[name].shape
    assert not torch.equal(randoms[3]["a"], levels[3]["a"])
    for before, after in itertools.pairwise(randoms):
        assert all(not (after[n] & ~before[n]).any() for n in before)
    assert not torch.equal(random_masks(levels[3], seed=6)["a"], randoms[3]["a"])
