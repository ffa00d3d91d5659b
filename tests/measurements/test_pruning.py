"""`measure_pruning`: every registered method through one dispatch, for one model or K.

The dispatch may only group the work: one model measured through it is the pure sweep
(`measure_trajectory`) bitwise, levels at once keep every level's accuracy, and K stacked
models give each member the trajectory it gets alone, up to the summation order of the
batched kernels.
"""

from __future__ import annotations

import pytest
import torch

from propensity.measurements.pruning import MemberSplits, measure_pruning
from propensity.models import MLP, Conv2, initialize
from propensity.pruning.measure import measure_trajectory
from propensity.pruning.registry import METHOD_NAMES, METHODS
from propensity.pruning.settings import PruningSettings

SETTINGS = PruningSettings(step=0.25, mask_seeds=2,
                           edge_popup={"densities": [0.5], "epochs": 1, "batch_size": 32})


def _mlp(seed: int) -> MLP:
    return initialize(MLP(0.05, (1, 4, 4), 3), "glorot", seed)


def _splits(n: int = 64, seed: int = 0) -> MemberSplits:
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g)
    return MemberSplits(val=(x, y), train=(x, y))


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_each_method_measures_a_trajectory_from_the_unpruned_model(name, one_thread) -> None:
    [result] = measure_pruning([_mlp(0)], [_splits()], PruningSettings(**{
        **SETTINGS.__dict__, "method": name}))
    [trajectory] = result.trajectories
    assert trajectory.method == name and result.fields["pruning_method"] == name
    assert trajectory.density[0] == 1.0 and min(trajectory.density) < 1.0
    assert set(result.fields["ed_by_method"]) == {name}


def test_one_model_is_the_pure_sweep_bitwise(one_thread) -> None:
    model, splits = _mlp(0), _splits()
    [result] = measure_pruning([model], [splits], SETTINGS)
    reference = measure_trajectory(model, *splits.val, step=0.25)
    assert result.trajectories[0].val_acc == reference.val_acc
    assert result.trajectories[0].val_loss == reference.val_loss


@pytest.mark.parametrize("members", [1, 2])
@pytest.mark.parametrize("levels", [3, 50])
def test_levels_at_once_only_group_the_work(levels: int, members: int, one_thread) -> None:
    models, splits = [_mlp(s) for s in range(members)], [_splits(seed=s) for s in range(members)]
    settings = PruningSettings(**{**SETTINGS.__dict__, "baselines": ("random", "global_magnitude")})
    one = measure_pruning(models, splits, settings)
    many = measure_pruning(models, splits, settings, levels_at_once=levels)
    for a, b in zip(one, many, strict=True):
        for ta, tb in zip(a.trajectories, b.trajectories, strict=True):
            assert tb.val_acc == ta.val_acc
            assert tb.val_loss == pytest.approx(ta.val_loss, rel=1e-5)


@pytest.mark.parametrize("build", [lambda s: _mlp(s),
                                   lambda s: initialize(Conv2(0.1, (1, 4, 4), 3), "he", s)])
def test_a_stack_gives_each_member_its_own_trajectory(build, one_thread) -> None:
    """Batched over members: accuracies may differ only where a float32 summation order moves
    a logit across its runner-up, which on 64 samples and well-separated levels it does not;
    losses within float32 accumulation over a few hundred terms (1e-5 relative)."""
    models, splits = [build(0), build(1), build(2)], [_splits(seed=s) for s in range(3)]
    stacked = measure_pruning(models, splits, SETTINGS)
    for model, split, result in zip(models, splits, stacked, strict=True):
        [alone] = measure_pruning([model], [split], SETTINGS)
        assert result.trajectories[0].density == alone.trajectories[0].density
        assert result.trajectories[0].val_acc == pytest.approx(alone.trajectories[0].val_acc, abs=1 / 64)
        assert result.trajectories[0].val_loss == pytest.approx(alone.trajectories[0].val_loss, rel=1e-5)


def test_a_method_that_measures_its_own_trajectory_is_given_one_model_at_a_time(
    one_thread, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    real = METHODS["edge_popup"].trajectory
    assert real is not None

    def spy(model, splits, settings):
        seen.append((model, splits.x_train is not None))
        return real(model, splits, settings)

    monkeypatch.setitem(METHODS, "edge_popup", type(METHODS["edge_popup"])(
        trajectory=spy, needs_train_split=True))
    models = [_mlp(0), _mlp(1)]
    measure_pruning(models, [_splits(), _splits(seed=1)],
                    PruningSettings(**{**SETTINGS.__dict__, "baselines": ("edge_popup",)}))
    assert [m for m, _ in seen] == models and all(has_train for _, has_train in seen)


def test_models_and_splits_must_pair_up() -> None:
    with pytest.raises(ValueError, match="2 models but 1 splits"):
        measure_pruning([_mlp(0), _mlp(1)], [_splits()], SETTINGS)
