"""One IMP level's starts (IMP and its controls) and the rows a branch writes."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from propensity.pruning.trajectory import Trajectory
from propensity.retrain.imp import dense_masks, imp_masks
from propensity.retrain.levels import LevelResult, imp_level_starts, regime_trajectory
from propensity.retrain.rewind import CaptureAt, copy_state, masked_state, rewind
from propensity.retrain.settings import IMPSettings
from tests.retrain.conftest import initialized, mlp, states_bitwise_equal, train


@pytest.fixture(scope="module")
def level_two():
    capture = CaptureAt(3)
    trained = train(initialized(), 12, callback=capture)
    one = imp_masks(trained, dense_masks(trained), 1)
    masks = imp_masks(trained, one, 2)
    return trained, capture.state, masks


def test_imps_start_is_the_rewound_state_under_its_mask(level_two) -> None:
    _, state, masks = level_two
    [imp, reinit, random] = imp_level_starts(mlp(), masks, state, IMPSettings(rewind_iteration=3),
                                             scheme="glorot", init_seed=0)
    assert [s.branch for s in (imp, reinit, random)] == ["imp", "imp_reinit", "imp_random"]
    assert states_bitwise_equal(imp.state, copy_state(rewind(mlp(), state, masks)))
    assert all(torch.equal(imp.masks[n], masks[n]) for n in masks)
    assert all(torch.equal(reinit.masks[n], masks[n]) for n in masks)
    for name, mask in masks.items():
        assert not torch.equal(reinit.state[name][mask], imp.state[name][mask])
        assert (reinit.state[name][~mask].view(torch.int32) == 0).all()
        assert int(random.masks[name].sum()) == int(mask.sum())
        assert not torch.equal(random.masks[name], mask)
        kept = random.masks[name]
        assert torch.equal(random.state[name][kept], state[name][kept])  # rewound like IMP


def test_controls_follow_the_settings_and_their_seed(level_two) -> None:
    _, state, masks = level_two
    only_imp = imp_level_starts(mlp(), masks, state, IMPSettings(controls=()), scheme="he", init_seed=0)
    assert [s.branch for s in only_imp] == ["imp"]
    a = imp_level_starts(mlp(), masks, state, IMPSettings(controls=("random",)), scheme="he", init_seed=0)
    b = imp_level_starts(mlp(), masks, state, IMPSettings(controls=("random",), control_seed=1),
                         scheme="he", init_seed=0)
    name = next(iter(masks))
    assert not torch.equal(a[1].masks[name], b[1].masks[name])


def test_masked_state_refuses_foreign_masks(level_two) -> None:
    _, state, masks = level_two
    name = next(iter(masks))
    with pytest.raises(ValueError, match="the state does not hold"):
        masked_state(state, {"nope.weight": masks[name]})
    with pytest.raises(ValueError, match="shaped like their weights"):
        masked_state(state, {name: masks[name].reshape(-1)})


def _rows(tested: bool = False) -> list[LevelResult]:
    test = {"test_acc": 0.8, "test_loss": 0.6} if tested else {}
    return [LevelResult(2, 640, 0.86, 0.5, 0.95, 0.2, 9, **test),
            LevelResult(0, 1000, 0.9, 0.4, 0.97, 0.1, 7, **test),
            LevelResult(1, 800, 0.89, 0.45, 0.96, 0.15, 8, **test)]


def test_a_branchs_rows_are_a_trajectory_with_its_own_columns(tmp_path) -> None:
    traj = regime_trajectory("imp", _rows())
    assert traj.level == [0, 1, 2] and traj.density == [1.0, 0.8, 0.64] and traj.method == "imp"
    assert traj.extra["epochs"] == [7.0, 8.0, 9.0] and traj.test_acc is None
    traj.to_csv(tmp_path / "t.csv")
    back = Trajectory.from_frame(pd.read_csv(tmp_path / "t.csv"))
    assert back.method == "imp" and back.extra["train_acc"] == [0.97, 0.96, 0.95]
    assert regime_trajectory("finetune", _rows(tested=True)).test_acc == [0.8, 0.8, 0.8]


def test_rows_without_level_zero_or_with_a_repeat_are_refused() -> None:
    with pytest.raises(ValueError, match="lack level 0"):
        regime_trajectory("imp", _rows()[:1])
    with pytest.raises(ValueError, match="repeat a level"):
        regime_trajectory("imp", [*_rows(), _rows()[0]])
