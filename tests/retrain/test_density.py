"""ED and matching density by regime, read with the paper's one definition."""

from __future__ import annotations

import pytest

from propensity.pruning.effective_density import degradation
from propensity.pruning.trajectory import Trajectory
from propensity.retrain.density import ed_by_regime, matching_density, regime_summary
from propensity.storage.records import RunRecord


def _trajectory(accuracies: list[float], total: int = 1000, rate: float = 0.2) -> Trajectory:
    remaining = [round(total * (1 - rate) ** k) for k in range(len(accuracies))]
    return Trajectory(list(range(len(accuracies))), [r / total for r in remaining], remaining,
                      accuracies, [0.0] * len(accuracies), method="imp")


def test_monotone_trajectory_matches_at_the_last_pass() -> None:
    traj = _trajectory([0.9, 0.91, 0.9, 0.88, 0.84, 0.7])
    summary = regime_summary(traj, 1000)
    assert summary["level"] == 4 and summary["effective_density"] == 0.41
    assert summary["matching_density"] == summary["ed_last_pass"] == 0.512
    assert summary["unpruned_weights"] == 410 and not summary["never_degraded"]
    assert summary["levels_measured"] == 6


def test_a_recovery_after_the_first_crossing_keeps_the_ed_and_lowers_the_matching_density() -> None:
    traj = _trajectory([0.9, 0.9, 0.8, 0.88, 0.7])
    assert degradation(traj).level == 2
    assert regime_summary(traj, 1000)["ed_last_pass"] == 0.8
    assert matching_density(traj) == 0.512


def test_relative_and_loss_thresholds_are_the_papers_modes() -> None:
    traj = _trajectory([0.5, 0.48, 0.47])
    assert matching_density(traj, 0.05, "absolute") == 0.64
    assert matching_density(traj, 0.05, "relative") == 0.8  # 0.025 allowed
    with pytest.raises(ValueError, match="threshold_mode"):
        matching_density(traj, 0.05, "loose")


def test_every_pruned_level_degrading_matches_only_the_dense_model() -> None:
    assert matching_density(_trajectory([0.9, 0.5, 0.4])) == 1.0


def test_ed_by_regime_is_a_record_field_and_old_records_load() -> None:
    regimes = ed_by_regime({"none": _trajectory([0.9, 0.9, 0.6]), "imp": _trajectory([0.9, 0.9, 0.9, 0.5])},
                           1000)
    assert regimes["none"]["effective_density"] == 0.64 and regimes["imp"]["effective_density"] == 0.512
    record = RunRecord("k", "e", ed_by_regime=regimes)
    assert RunRecord.from_dict(record.to_dict()).ed_by_regime == regimes
    old = RunRecord("k", "e").to_dict()
    del old["ed_by_regime"]
    assert RunRecord.from_dict(old).ed_by_regime == {}
