"""A cohort's pruning sweep with several levels per forward against the level-by-level pass."""

from __future__ import annotations

import pytest
import torch

from propensity.cohort import walk_cohort
from propensity.models import MLP, Conv2, ResNet, initialize
from propensity.pruning.masks import plan

SHAPE = (1, 8, 8)


def splits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=gen), torch.randint(0, 10, (n,), generator=gen)


@pytest.mark.parametrize("cls", [MLP, Conv2, ResNet])
@pytest.mark.parametrize("method", ["magnitude", "random"])
def test_levels_at_once_give_the_level_by_level_totals(cls: type, method: str) -> None:
    """Accuracies (counts) equal; summed losses agree to float32 rounding: L levels in one
    forward change which kernel sums each logit (a dot product over at most 64 * 9 inputs
    here), not what it sums, so relative differences stay near float32's 6e-8 per logit."""
    models = [initialize(cls(0.25, SHAPE), "he", seed).eval() for seed in range(3)]
    shared, own = splits(96, 0), splits(96, 1)
    data = [[shared, shared, own], [own, own, shared]]  # validation, test; two members share a data seed
    plans = [[plan(m, method, step=0.1, seed=s) for m in models] for s in (0, 1)]
    one = walk_cohort(models, plans, data, batch_size=40)
    assert one.shape == (2, 11, 3, 2, 2)
    for at_once in (4, 11, 50):  # 11 levels: a partial last chunk, all at once, capped
        many = walk_cohort(models, plans, data, batch_size=40, levels_at_once=at_once)
        assert torch.equal(many[..., 0], one[..., 0])
        torch.testing.assert_close(many[..., 1], one[..., 1], rtol=1e-5, atol=1e-5)


def test_the_walk_leaves_the_models_untouched() -> None:
    models = [initialize(MLP(0.25, SHAPE), "he", seed) for seed in range(2)]
    before = [[p.detach().clone() for p in m.parameters()] for m in models]
    walk_cohort(models, [[plan(m, step=0.25) for m in models]], [[splits(32, 0)] * 2], levels_at_once=3)
    for model, params in zip(models, before, strict=True):
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params, strict=True))


def test_levels_at_once_below_one_is_refused() -> None:
    model = initialize(MLP(0.25, SHAPE), "he", 0)
    with pytest.raises(ValueError, match="levels_at_once=0 must be at least 1"):
        walk_cohort([model], [[plan(model)]], [[splits(8, 0)]], levels_at_once=0)
