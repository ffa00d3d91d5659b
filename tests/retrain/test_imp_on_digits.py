"""IMP end to end with a plain training loop on the embedded digits (the MLP at width 1, the
run's SGD recipe: lr 0.05, batches of 64, stop at mean train loss 0.2): the pieces an engine
drives, put together. Retraining recovers what one-shot pruning loses at the same counts."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from torch import nn

from propensity.data.digits import DigitsDataModule
from propensity.models import MLP, initialize
from propensity.pruning.masked_training import keep_pruned_at_zero
from propensity.pruning.masks import magnitude_masks
from propensity.pruning.measure import measure_trajectory
from propensity.retrain import (
    CaptureAt,
    IMPSettings,
    LevelResult,
    copy_state,
    dense_masks,
    ed_by_regime,
    imp_level_starts,
    imp_masks,
    regime_trajectory,
    remaining,
)
from tests.retrain.conftest import states_bitwise_equal

LEVELS = 7  # 0.8^7: density 0.2097


def _fit(model: nn.Module, data: DigitsDataModule, masks=None, capture=None) -> int:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    parameters = dict(model.named_parameters())
    if masks is not None:
        keep_pruned_at_zero(optimizer, [(parameters[n], m) for n, m in masks.items()])
    order, iteration = torch.Generator().manual_seed(0), 0
    if capture is not None:
        capture(0, model)
    for epoch in range(1, 101):
        perm, total = torch.randperm(len(data.x_train), generator=order), 0.0
        for start in range(0, len(perm), 64):
            batch = perm[start:start + 64]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(data.x_train[batch]), data.y_train[batch])
            loss.backward()
            optimizer.step()
            iteration += 1
            total += loss.item() * len(batch)
            if capture is not None:
                capture(iteration, model)
        if total / len(perm) <= 0.2:
            return epoch
    return epoch


@torch.no_grad()
def _val_acc(model: nn.Module, data: DigitsDataModule) -> float:
    return (model(data.x_val).argmax(1) == data.y_val).float().mean().item()


@torch.no_grad()
def _metrics(model: nn.Module, data: DigitsDataModule) -> dict[str, float]:
    out = {}
    for split, x, y in (("val", data.x_val, data.y_val), ("train", data.x_train, data.y_train)):
        logits = model(x)
        out[f"{split}_acc"] = (logits.argmax(1) == y).float().mean().item()
        out[f"{split}_loss"] = nn.functional.cross_entropy(logits, y).item()
    return out


@pytest.fixture(scope="module")
def imp_run():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    data = DigitsDataModule()
    data.setup()
    dense = initialize(MLP(1.0, (1, 8, 8), 10), "glorot", 0)
    capture = CaptureAt(0)
    epochs = _fit(dense, data, capture=capture)
    levels = [(dense_masks(dense), copy.deepcopy(dense))]
    rows = [LevelResult(0, remaining(levels[0][0]), epochs=epochs, **_metrics(dense, data))]
    for level in range(1, LEVELS + 1):
        masks = imp_masks(levels[-1][1], levels[-1][0], level)
        [start] = imp_level_starts(dense, masks, capture.state, IMPSettings(controls=()),
                                   scheme="glorot", init_seed=0)
        model = copy.deepcopy(dense)
        model.load_state_dict(start.state)
        epochs = _fit(model, data, start.masks)
        levels.append((masks, model))
        rows.append(LevelResult(level, remaining(masks), epochs=epochs, **_metrics(model, data)))
    yield data, dense, levels, regime_trajectory("imp", rows)
    torch.set_num_threads(threads)


def test_level_zero_is_the_trained_run(imp_run) -> None:
    _, dense, levels, _ = imp_run
    assert states_bitwise_equal(copy_state(levels[0][1]), copy_state(dense))


def test_masks_nest_and_removed_weights_stay_exactly_zero_through_retraining(imp_run) -> None:
    _, _, levels, _ = imp_run
    for (before, _), (after, model) in itertools.pairwise(levels):
        parameters = dict(model.named_parameters())
        for name, mask in after.items():
            assert not (mask & ~before[name]).any()
            assert (parameters[name].detach()[~mask].view(torch.int32) == 0).all()  # +0.0
            assert (parameters[name].detach()[mask] != 0).float().mean() > 0.99


def test_imp_at_a_fifth_of_the_weights_is_at_least_one_shot_at_the_same_counts(imp_run) -> None:
    data, dense, levels, imp = imp_run
    masks, retrained = levels[LEVELS]
    assert round(remaining(masks) / remaining(levels[0][0]), 4) == 0.2097
    one_shot = copy.deepcopy(dense)
    one_shot_masks = magnitude_masks(dense, LEVELS, 0.2, "remaining")
    parameters = dict(one_shot.named_parameters())
    with torch.no_grad():
        for name, mask in one_shot_masks.items():
            assert int(mask.sum()) == int(masks[name].sum())
            parameters[name].masked_fill_(~mask, 0.0)
    assert imp.val_acc[LEVELS] == _val_acc(retrained, data) >= _val_acc(one_shot, data)


def test_imp_degrades_later_than_one_shot_pruning(imp_run) -> None:
    data, dense, _, imp = imp_run
    one_shot = measure_trajectory(dense, data.x_val, data.y_val, step=0.2, schedule="remaining",
                                  min_density=0.21)  # the last level: 0.8^7 = 0.2097
    assert one_shot.density == imp.density
    regimes = ed_by_regime({"none": one_shot, "imp": imp}, remaining(dense_masks(dense)))
    assert regimes["imp"]["effective_density"] < regimes["none"]["effective_density"]
    assert regimes["imp"]["matching_density"] <= regimes["imp"]["ed_last_pass"]
