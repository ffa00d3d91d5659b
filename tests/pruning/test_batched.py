"""Several levels per forward (``measure_trajectory(levels_at_once=K)``) against the sequential path."""

import pytest
import torch

import propensity.pruning.batched as batched_module
import propensity.pruning.measure as measure_module
from propensity.models import MLP
from propensity.pruning.batched import auto_levels, level_bytes
from propensity.pruning.measure import measure_trajectory
from tests.pruning.test_measure import assert_bitwise, make, snapshot

pytestmark = pytest.mark.usefixtures("one_thread")


def assert_same(batched, sequential):
    assert batched.level == sequential.level and batched.density == sequential.density
    assert batched.val_acc == sequential.val_acc  # exactly: the logits are identical
    assert batched.val_loss == pytest.approx(sequential.val_loss, rel=1e-6, abs=1e-9)
    if sequential.test_acc is not None:
        assert batched.test_acc == sequential.test_acc
        assert batched.test_loss == pytest.approx(sequential.test_loss, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("schedule", ["original", "remaining"])
def test_batched_levels_equal_the_sequential_sweep(schedule):
    model, x, y = make("mlp")
    before = snapshot(model)
    kwargs = dict(schedule=schedule, batch_size=128, x_test=x[200:], y_test=y[200:])
    sequential = measure_trajectory(model, x[:200], y[:200], **kwargs)
    assert len(sequential) % 7 != 0  # 51 and 229 levels: the last chunk is short
    batched = measure_trajectory(model, x[:200], y[:200], levels_at_once=7, **kwargs)
    assert_same(batched, sequential)
    assert_bitwise(model, before)
    assert model.training


def test_batched_random_and_global_methods():
    model, x, y = make("mlp")
    for kwargs in (dict(method="random", mask_seeds=(3, 4)), dict(method="global_magnitude")):
        sequential = measure_trajectory(model, x, y, **kwargs)
        batched = measure_trajectory(model, x, y, levels_at_once=4, **kwargs)
        assert_same(batched, sequential)
        assert batched.extra.keys() == sequential.extra.keys()


def test_batched_path_never_writes_the_parameters(monkeypatch):
    model, x, y = make("mlp")
    before = snapshot(model)
    real, calls = batched_module.evaluate_levels, []

    def spy(m, *args):
        calls.append(all(torch.equal(v, before[k]) for k, v in m.state_dict().items()))
        return real(m, *args)

    monkeypatch.setattr(batched_module, "evaluate_levels", spy)
    monkeypatch.setattr(measure_module, "_prune_to", None)  # the in-place path would fail
    measure_trajectory(model, x, y, levels_at_once=10)
    assert calls == [True] * 6  # parameters intact during every batched forward
    assert_bitwise(model, before)


def test_auto_levels_fit_the_memory_budget(monkeypatch):
    wide = MLP(5.0)
    per_level = level_bytes(wide, 8192)
    assert per_level == 4 * (784 * 1500 + 1500 * 500 + 500 * 10 + 8192 * (784 + 1500 + 500 + 10))
    assert auto_levels(wide, 8192, 2**30, 51) == 2**30 // per_level
    assert auto_levels(wide, 8192, 1, 51) == 1 and auto_levels(MLP(0.1), 10, 2**40, 51) == 51
    model, x, y = make("mlp")
    seen = []
    real = batched_module.evaluate_levels

    def spy(m, weights, *args):
        seen.append(len(weights[0]))
        return real(m, weights, *args)

    monkeypatch.setattr(batched_module, "evaluate_levels", spy)
    budget = 5 * level_bytes(model, len(x))
    batched = measure_trajectory(model, x, y, levels_at_once=0, memory_budget=budget)
    assert_same(batched, measure_trajectory(model, x, y))
    assert seen == [5] * 10 + [1]


def test_other_models_fall_back_to_the_sequential_path():
    model, x, y = make("conv2")
    auto = measure_trajectory(model, x, y, step=0.25, levels_at_once=0)
    assert_same(auto, measure_trajectory(model, x, y, step=0.25))
    with pytest.raises(ValueError, match="levels_at_once"):
        measure_trajectory(model, x, y, levels_at_once=-1)
