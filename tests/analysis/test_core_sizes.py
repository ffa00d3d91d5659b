"""What enters the propensity exponent: never-degraded runs left out as upper bounds,
zero-core runs read one step up, the capped widths, the seed clusters, and each threshold's
own degradation read from the trajectories (section 4.2)."""

import numpy as np
import pytest

from propensity.analysis.core_sizes import (
    BY_DATA_SEED,
    BY_INIT_SEED,
    ENTERED,
    NEVER_DEGRADED,
    ZERO_CORE,
    core_frame,
    degradation_by_threshold,
    entry_counts,
    seed_clusters,
    uncapped_widths,
)
from propensity.analysis.exponent import exponent_table
from propensity.analysis.null_hypothesis import pair_with_reference
from propensity.pruning.effective_density import degradation
from propensity.pruning.trajectory import Trajectory
from tests.analysis.synthetic import THRESHOLDS, make_tables


def _glorot_mlp(runs):
    return (runs["init"] == "glorot") & (runs["model"] == "mlp")


def test_never_degraded_runs_are_left_out_as_upper_bounds_and_counted_per_width():
    runs = make_tables().runs
    never = runs.index[_glorot_mlp(runs) & (runs["width"] == 5.0)][:2]
    runs.loc[never, ["never_degraded", "effective_density", "ed_last_pass"]] = [True, 0.0, 0.0]
    frame = core_frame(runs)
    left_out = frame[frame["run_key"].isin(runs.loc[never, "run_key"])]
    assert (left_out["entry"] == NEVER_DEGRADED).all() and left_out["core_size"].isna().all()
    row = exponent_table(runs).set_index(["model_type", "init"]).loc[("MLP/SGD · digits", "Glorot")]
    assert (row["n_never_degraded"], row["n_left_out"], row["n_runs"]) == (2, 2, 22)
    assert row["entries"] == (
        f"{NEVER_DEGRADED}: 0.5x 0, 1x 0, 2x 0, 5x 2; {ZERO_CORE}: 0.5x 0, 1x 0, 2x 0, 5x 0")


def test_a_run_that_degrades_only_at_density_0_is_read_one_step_up():
    runs = make_tables().runs
    zero = runs.index[_glorot_mlp(runs) & (runs["width"] == 2.0)][0]
    runs.loc[zero, ["effective_density", "ed_last_pass"]] = [0.0, 0.02]
    frame = core_frame(runs).set_index("run_key")
    read = frame.loc[runs.loc[zero, "run_key"]]
    assert read["entry"] == ZERO_CORE
    assert read["core_size"] == pytest.approx(0.02 * read["total_weights"], rel=1e-12)
    row = exponent_table(runs).set_index(["model_type", "init"]).loc[("MLP/SGD · digits", "Glorot")]
    assert (row["n_zero_core"], row["n_left_out"], row["n_runs"]) == (1, 0, 24)
    assert entry_counts(core_frame(runs)[lambda f: f["model_type"].str.startswith("MLP")]) == (
        f"{NEVER_DEGRADED}: 0.5x 0, 1x 0, 2x 0, 5x 0; {ZERO_CORE}: 0.5x 0, 1x 0, 2x 1, 5x 0")
    assert (core_frame(make_tables().runs)["entry"] == ENTERED).all()


def test_uncapped_widths_are_the_rows_table_2_does_not_cap():
    runs = make_tables().runs
    frame = core_frame(runs)
    paired = pair_with_reference(runs)
    for (model_type, init), group in frame.groupby(["model_type", "init"]):
        rows = paired[(paired["model_type"] == model_type) & (paired["init"] == init)]
        expected = sorted(float(w) for w, capped in rows.groupby("width")["null_capped"].any().items()
                          if not capped)
        assert uncapped_widths(group) == expected
        assert 1.0 in expected and 0.5 not in expected  # 0.5x holds less than the 1x core here


def test_the_null_core_comes_from_the_1x_twin_with_the_same_seeds():
    frame = core_frame(make_tables().runs)
    twin = frame[(frame["width"] == 1.0) & (frame["init"] == "he") & (frame["init_seed"] == 2)
                 & (frame["data_seed"] == 1) & frame["model_type"].str.startswith("Conv")]
    wide = frame[(frame["width"] == 5.0) & (frame["init"] == "he") & (frame["init_seed"] == 2)
                 & (frame["data_seed"] == 1) & frame["model_type"].str.startswith("Conv")]
    assert wide["null_core"].item() == twin["core_size"].item()


def test_clusters_are_data_seeds_or_with_one_split_init_seeds():
    frame = core_frame(make_tables().runs)
    labels, kind = seed_clusters(frame)
    assert kind == BY_DATA_SEED and set(labels) == {"0", "1"}
    one_split = core_frame(make_tables(data_seeds=(4,)).runs)
    labels, kind = seed_clusters(one_split)
    assert kind == BY_INIT_SEED and set(labels) == {"0", "1", "2"}


def test_each_threshold_is_read_from_the_trajectory_as_degradation_reads_it():
    tables = make_tables(model_types=(("mlp", "sgd"),), inits=("glorot",))
    runs, trajectories = tables.runs, tables.trajectories
    key = runs.loc[runs["status"] == "finished", "run_key"].iloc[0]
    flat = trajectories["run_key"] == key
    trajectories.loc[flat, "val_acc"] = 0.9  # this run never degrades at any threshold
    runs.loc[runs["run_key"] == runs["run_key"].iloc[1], "threshold_mode"] = "relative"
    read = degradation_by_threshold(runs, trajectories, list(THRESHOLDS))
    assert sorted(read) == list(THRESHOLDS)
    modes = runs.set_index("run_key")["threshold_mode"]
    for threshold, table in read.items():
        for _, row in table.iterrows():
            levels = trajectories[trajectories["run_key"] == row["run_key"]].sort_values("level")
            expected = degradation(Trajectory(
                level=levels["level"].tolist(), density=levels["density"].tolist(),
                remaining_weights=levels["remaining_weights"].astype(int).tolist(),
                val_acc=levels["val_acc"].tolist(), val_loss=levels["val_loss"].tolist(),
            ), threshold, modes[row["run_key"]])
            assert (row["effective_density"], row["ed_last_pass"], row["never_degraded"]) == (
                expected.effective_density, expected.ed_last_pass, expected.never_degraded)
        assert table.set_index("run_key").loc[key, "never_degraded"]
    assert not np.all([t["never_degraded"].all() for t in read.values()])
