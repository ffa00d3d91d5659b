"""Effective density on hand-made trajectories (section 3.2)."""

import json

import pytest

from propensity.pruning.effective_density import (
    EffectiveDensity,
    degradation,
    effective_density,
    summarize,
)
from propensity.pruning.trajectory import Trajectory


def traj(accs: list[float], losses: list[float] | None = None, step: float = 0.1) -> Trajectory:
    n = len(accs)
    density = [round(1 - k * step, 10) for k in range(n)]
    return Trajectory(
        level=list(range(n)),
        density=density,
        remaining_weights=[round(d * 1000) for d in density],
        val_acc=accs,
        val_loss=losses if losses is not None else [0.1] * n,
    )


def test_drop_at_the_first_level():
    ed = degradation(traj([0.9, 0.5, 0.4]))
    assert ed == EffectiveDensity(0.9, 1.0, 1, False, 0.05, "absolute", 0.9)


def test_never_degrading_reports_the_last_level_and_a_flag():
    ed = degradation(traj([0.9, 0.9, 0.88, 0.87]))
    assert ed.never_degraded and ed.level == 3
    assert ed.effective_density == ed.ed_last_pass == 0.7


def test_a_drop_exactly_at_the_threshold_does_not_count():
    # 0.95 - 0.90 is 0.05000000000000004 in floats: still "not more than" 0.05
    t = traj([0.95, 0.93, 0.90, 0.8999, 0.5])
    assert effective_density(t) == 0.7  # 0.8999 is the first drop beyond 5 points
    assert degradation(t).ed_last_pass == 0.8
    assert effective_density(traj([0.5, 0.45, 0.4])) == 0.8  # 0.5 - 0.45 = 0.05 passes
    # accuracies as counts of 5,000: 250 fewer correct is exactly 5 points, 251 is more
    assert effective_density(traj([4500 / 5000, 4250 / 5000, 4249 / 5000])) == 0.8


def test_non_monotone_first_crossing_counts():
    t = traj([0.9, 0.89, 0.80, 0.88, 0.89, 0.3])
    ed = degradation(t)
    assert ed.level == 2 and ed.effective_density == 0.8 and ed.ed_last_pass == 0.9


def test_absolute_relative_and_loss_modes_differ():
    # base 0.5: 5 points = 0.05 absolute, 5% relative = 0.025
    t = traj([0.5, 0.49, 0.47, 0.44, 0.2], losses=[0.30, 0.31, 0.36, 0.40, 2.0])
    assert effective_density(t, 0.05, "absolute") == 0.7  # drop 0.06 at level 3
    assert effective_density(t, 0.05, "relative") == 0.8  # drop 0.03 > 0.025 at level 2
    assert effective_density(t, 0.05, "loss") == 0.8  # loss rise 0.06 at level 2
    assert effective_density(t, 0.1, "loss") == 0.6  # rises 0.06, 0.10 (not more), 1.7


def test_relative_threshold_equality_passes():
    t = traj([0.5, 0.47, 0.46])
    # 6% of 0.5 is 0.03: a drop of exactly 0.03 passes, 0.04 does not
    assert effective_density(t, 0.06, "relative") == 0.8


def test_bad_mode_threshold_or_trajectory():
    with pytest.raises(ValueError, match="threshold_mode"):
        effective_density(traj([0.9, 0.8]), mode="percent")
    with pytest.raises(ValueError, match="threshold"):
        effective_density(traj([0.9, 0.8]), threshold=-0.1)
    with pytest.raises(ValueError, match="empty"):
        effective_density(traj([]))


def test_summarize_gives_exactly_the_record_fields():
    t = traj([0.9, 0.895, 0.88, 0.86, 0.84, 0.79, 0.2])
    record = summarize(t, total_weights=266200)
    assert set(record) == {
        "effective_density",
        "ed_last_pass",
        "unpruned_weights",
        "total_weights",
        "threshold",
        "threshold_mode",
        "base_val_acc",
        "never_degraded",
        "ed_by_threshold",
    }
    assert record["effective_density"] == 0.6 and record["ed_last_pass"] == 0.7
    assert record["unpruned_weights"] == 159720 and record["total_weights"] == 266200
    assert record["threshold"] == 0.05 and record["threshold_mode"] == "absolute"
    assert record["base_val_acc"] == 0.9 and record["never_degraded"] is False
    # drops: 0.005, 0.02, 0.04, 0.06, 0.11, 0.7
    assert record["ed_by_threshold"] == {"0.01": 0.8, "0.02": 0.7, "0.05": 0.6, "0.1": 0.5}
    json.dumps(record)  # merges into record.json as is


def test_summarize_of_a_model_that_never_degrades():
    record = summarize(traj([0.9] * 11), total_weights=100, mode="relative")
    assert record["never_degraded"] is True and record["effective_density"] == 0.0
    assert record["unpruned_weights"] == 0 and record["threshold_mode"] == "relative"
