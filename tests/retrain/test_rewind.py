"""Rewinding: iteration 0 is the run's initialisation, iteration k its weights after k steps,
bit for bit on the CPU; the removed weights are exactly +0.0 afterwards."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from propensity.retrain.imp import dense_masks, imp_masks
from propensity.retrain.rewind import (
    CaptureAt,
    copy_state,
    initial_state,
    load_rewind_state,
    rewind,
    rewind_state_path,
    save_rewind_state,
)
from tests.retrain.conftest import initialized, mlp, states_bitwise_equal, train


def test_capture_at_zero_is_the_replayed_initialisation() -> None:
    capture = CaptureAt(0)
    train(initialized(init_seed=3), 5, callback=capture)
    assert capture.captured
    assert states_bitwise_equal(capture.state, initial_state(mlp(), "glorot", 3))
    assert not states_bitwise_equal(capture.state, initial_state(mlp(), "glorot", 4))


def test_initial_state_leaves_the_model_alone() -> None:
    model = mlp()
    before = copy_state(model)
    initial_state(model, "he", 0)
    assert states_bitwise_equal(copy_state(model), before)


@pytest.mark.parametrize("k", [1, 7])
def test_capture_at_k_is_the_dense_runs_weights_after_k_steps(k: int) -> None:
    capture = CaptureAt(k)
    trained = train(initialized(), 12, callback=capture)
    replayed = train(initialized(), k)
    assert states_bitwise_equal(capture.state, copy_state(replayed))
    assert not states_bitwise_equal(capture.state, copy_state(trained))
    assert not states_bitwise_equal(capture.state, copy_state(initialized()))


def test_the_capture_is_a_copy_and_reads_a_state_too() -> None:
    model = initialized()
    capture = CaptureAt(0)
    capture(0, model.state_dict())
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert states_bitwise_equal(capture.state, copy_state(initialized()))
    capture(1, model)  # another iteration: ignored
    assert states_bitwise_equal(capture.state, copy_state(initialized()))


def test_rewind_restores_the_survivors_and_zeroes_the_removed() -> None:
    capture = CaptureAt(2)
    trained = train(initialized(), 10, callback=capture)
    masks = imp_masks(trained, dense_masks(trained), 3)
    model = rewind(trained, capture.state, masks)
    for name, value in model.state_dict().items():
        if name in masks:
            kept, removed = value[masks[name]], value[~masks[name]]
            assert states_bitwise_equal({"w": kept}, {"w": capture.state[name][masks[name]]})
            assert removed.numel() > 0 and (removed.view(torch.int32) == 0).all()  # +0.0 exactly
        else:
            assert states_bitwise_equal({"v": value}, {"v": capture.state[name]})


def test_rewind_restores_buffers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 2))
    state = copy_state(model)
    model(torch.randn(8, 4))  # training mode: the running statistics move
    assert not states_bitwise_equal(copy_state(model), state)
    rewind(model, state, dense_masks(model))
    assert states_bitwise_equal(copy_state(model), state)


def test_bad_masks_and_iterations_are_refused() -> None:
    model = initialized()
    state = copy_state(model)
    with pytest.raises(ValueError, match="not a parameter of the model"):
        rewind(model, state, {"fc9.weight": torch.ones(2, dtype=torch.bool)})
    name, weight = next(iter(dense_masks(model).items()))
    with pytest.raises(ValueError, match="shaped like their weights"):
        rewind(model, state, {name: torch.ones(weight.numel(), dtype=torch.bool)})
    with pytest.raises(ValueError, match="shaped like their weights"):
        rewind(model, state, {name: torch.ones(weight.shape)})
    with pytest.raises(ValueError, match=r"retrain\.rewind_iteration=-1"):
        CaptureAt(-1)


def test_a_saved_state_is_written_once_and_loads_bit_for_bit(tmp_path) -> None:
    assert load_rewind_state(tmp_path, 3) is None
    model = initialized()
    assert save_rewind_state(tmp_path, 3, model)
    path = rewind_state_path(tmp_path, 3)
    assert path == tmp_path / "rewind" / "iteration_3.pt"
    written = path.read_bytes()
    assert not save_rewind_state(tmp_path, 3, initialized(init_seed=1))  # there already: left
    assert path.read_bytes() == written
    assert states_bitwise_equal(load_rewind_state(tmp_path, 3), copy_state(model))
    assert load_rewind_state(tmp_path, 4) is None
    assert [p.name for p in path.parent.iterdir()] == ["iteration_3.pt"]  # no temporary left
