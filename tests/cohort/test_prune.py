"""A cohort's trajectories with several levels per forward against the level-by-level pass."""

from __future__ import annotations

import pytest
import torch

from propensity.cohort import trajectories
from propensity.models import MLP, Conv2, ResNet, initialize

SHAPE = (1, 8, 8)


def splits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, *SHAPE, generator=gen), torch.randint(0, 10, (n,), generator=gen)


@pytest.mark.parametrize("cls", [MLP, Conv2, ResNet])
@pytest.mark.parametrize("method", ["magnitude", "random"])
def test_levels_at_once_give_the_level_by_level_trajectories(cls: type, method: str) -> None:
    models = [initialize(cls(0.25, SHAPE), "he", seed).eval() for seed in range(3)]
    shared, own = splits(96, 0), splits(96, 1)
    val = [shared, shared, own]  # two members of one data seed, one of another
    test = [own, own, shared]
    kwargs = {"step": 0.1, "method": method, "test": test, "batch_size": 40, "mask_seeds": (0, 1)}
    one = trajectories(models, val, **kwargs)
    for at_once in (4, 11, 50):  # 11 levels: a partial last chunk, all at once, capped
        many = trajectories(models, val, levels_at_once=at_once, **kwargs)
        for a, b in zip(one, many, strict=True):
            assert a.density == b.density and a.remaining_weights == b.remaining_weights
            assert a.val_acc == b.val_acc and a.test_acc == b.test_acc
            torch.testing.assert_close(torch.tensor(b.val_loss), torch.tensor(a.val_loss),
                                       rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(torch.tensor(b.test_loss), torch.tensor(a.test_loss),
                                       rtol=1e-5, atol=1e-6)


def test_levels_at_once_leave_the_models_untouched() -> None:
    models = [initialize(MLP(0.25, SHAPE), "he", seed) for seed in range(2)]
    before = [[p.detach().clone() for p in m.parameters()] for m in models]
    trajectories(models, [splits(32, 0)] * 2, step=0.25, levels_at_once=3)
    for model, params in zip(models, before, strict=True):
        assert all(torch.equal(p, q) for p, q in zip(model.parameters(), params, strict=True))


def test_levels_at_once_below_one_is_refused() -> None:
    model = initialize(MLP(0.25, SHAPE), "he", 0)
    with pytest.raises(ValueError, match="levels_at_once=0 must be at least 1"):
        trajectories([model], [splits(8, 0)], levels_at_once=0)
