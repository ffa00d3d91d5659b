"""The report's faster analyses give exactly what the previous ones gave (tests/analysis/previous.py).

Shared grid grouped once and joined, permutation means in batched matrix products, the
lowest-40% masks by selection, the activation table framed once: each on synthetic inputs
made to reach every branch (exact and own readings, ties, truncated trajectories, a loss
threshold, runs without a trajectory), compared value for value.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from propensity.analysis.activations import activation_table
from propensity.analysis.overlap import lowest_fraction_mask
from propensity.analysis.shared_grid import shared_grid_frame
from propensity.analysis.similarity import hamming_matrix, width_distance_table, within_across
from propensity.mechanisms.artifacts import ACTIVATIONS, artifact_path, save_activation_statistics
from tests.analysis import previous
from tests.analysis.synthetic import make_tables

POPUP = np.array([1.0, 0.9, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05])


def method_tables(seed: int = 0):
    """make_tables' runs with random, global magnitude and edge-popup trajectories beside
    magnitude's, and the irregular cases of real collections."""
    made = make_tables(widths=(0.5, 1.0, 2.0), data_seeds=(0,), seed=seed)
    rng = np.random.default_rng(seed)
    runs, fine = made.runs.copy(), made.trajectories
    frames = []
    for i, (key, steps) in enumerate(fine.groupby("run_key", sort=False)):
        if i % 11 == 3:
            steps = steps[steps["density"] > 0.25]  # stopped early: cannot be read below 0.26
        if i % 13 != 5:  # some runs lack magnitude's trajectory
            frames.append(steps)
        for method, shift in (("random", 0.3), ("global_magnitude", -0.1)):
            acc = np.clip(steps["val_acc"].to_numpy() - shift * (1 - steps["density"].to_numpy()), 0, 1)
            frames.append(steps.assign(method=method, val_acc=acc))
        if i % 7 == 2:
            continue  # no edge-popup: the coarsest is a 2% trajectory, ties broken by rank
        base = float(steps["val_acc"].iloc[0])
        acc = np.r_[base, base - np.cumsum(rng.uniform(0, 0.08, len(POPUP) - 1))]
        magnitude = steps.set_index(np.round(steps["density"], 9))["val_acc"]
        start = np.array([magnitude.get(round(d, 9), 0.5) for d in POPUP])
        if i % 5 == 1:
            start = start + 0.01  # a start mask that is not magnitude's
        frames.append(pd.DataFrame({
            "run_key": key, "method": "edge_popup", "level": range(len(POPUP)),
            "density": POPUP, "remaining_weights": 0, "val_acc": acc, "val_loss": 2 - 2 * acc,
            "start_val_acc": start,
        }))
    trajectories = pd.concat(frames, ignore_index=True)
    runs["effective_density_magnitude"] = runs["effective_density"]
    runs["effective_density_random"] = (runs["effective_density"] + 0.2).clip(upper=1)
    runs.loc[runs.index[::9], "effective_density_magnitude"] = np.nan  # falls back to the own ED
    runs.loc[runs.index[1::8], "threshold_mode"] = "loss"
    runs.loc[runs.index[2::10], "threshold"] = 0.02
    runs.loc[runs.index[4], "pruning_method"] = None
    keys = trajectories["run_key"].unique()
    trajectories = trajectories[trajectories["run_key"] != keys[-1]]  # a run without trajectories
    return runs, trajectories


@pytest.mark.parametrize("seed", [0, 1])
def test_shared_grid_frame_equals_the_per_run_loop(seed):
    runs, trajectories = method_tables(seed)
    new = shared_grid_frame(runs, trajectories)
    old = previous.shared_grid_frame(runs, trajectories)
    assert len(new) > 100 and set(new["source"]) == {"exact", "own"}
    pd.testing.assert_frame_equal(new, old, check_dtype=False, check_exact=True)


def test_read_at_equals_the_per_density_filter():
    _, trajectories = method_tables()
    one = trajectories[(trajectories["run_key"] == trajectories["run_key"].iloc[0])
                       & (trajectories["method"] == "random")]
    densities = np.array([0.9, 0.55, 0.05, 0.0, 1.0, 0.333])
    pd.testing.assert_frame_equal(
        previous.read_at(one, densities).astype(float),
        __import__("propensity.analysis.shared_grid", fromlist=["read_at"]).read_at(one, densities),
        check_exact=True,
    )


def correctness(models: int, images: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((models, images)) < rng.uniform(0.6, 0.95, (models, 1))


def test_hamming_matrix_equals_the_integer_product():
    correct = correctness(30, 500, 0)
    np.testing.assert_array_equal(hamming_matrix(correct), previous.hamming_matrix(correct))


@pytest.mark.parametrize(
    ("widths", "permutations"),
    [([0.5] * 7 + [1.0] * 11 + [2.0] * 9 + [4.0] * 5, 300), ([1.0] * 6 + [2.0], 129), ([1.0] * 5, 64)],
)
def test_within_across_equals_one_permutation_at_a_time(widths, permutations):
    correct = correctness(len(widths), 200, len(widths))
    new = within_across(correct, widths, permutations=permutations, seed=3)
    old = previous.within_across(correct, widths, permutations=permutations, seed=3)
    assert new.keys() == old.keys()
    for key in new:  # bit for bit: integer sums are exact in float64
        assert new[key] == old[key] or (np.isnan(new[key]) and np.isnan(old[key])), key


def test_width_distance_table_equals_the_block_means():
    widths = [0.5] * 7 + [1.0] * 11 + [2.0] * 1 + [4.0] * 5
    correct = correctness(len(widths), 300, 7)
    pd.testing.assert_frame_equal(width_distance_table(correct, widths),
                                  previous.width_distance_table(correct, widths), check_exact=True)


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.4, 0.77, 1.0])
def test_lowest_fraction_mask_equals_the_stable_sort(fraction):
    generator = torch.Generator().manual_seed(0)
    continuous = torch.randn(37, 23, generator=generator)
    ties = torch.randint(-3, 4, (50, 9), generator=generator).float()  # many equal |w|, zeros
    signed_zero = torch.tensor([[0.0, -0.0, 1.0, -1.0, 0.0, 2.0, -0.0]])
    for weight in (continuous, ties, signed_zero):
        assert torch.equal(lowest_fraction_mask(weight, fraction),
                           previous.lowest_fraction_mask(weight, fraction))


def test_activation_table_equals_one_frame_per_run(tmp_path):
    runs = make_tables(widths=(0.5, 1.0), init_seeds=(0, 1), data_seeds=(0,), inits=("glorot",),
                       broken=False).runs
    runs["run_dir"] = [str(tmp_path / key) for key in runs["run_key"]]
    rng = np.random.default_rng(0)
    for i, run_dir in enumerate(runs["run_dir"]):
        if i == 1:
            continue  # a run without the artifact is skipped
        stats = {}
        for layer, units in (("fc1", 6), ("fc2", 3)):
            hoyer = rng.random(units)
            hoyer[0] = np.nan  # a dead unit
            normalized = rng.random(units)
            normalized[-1] = np.nan
            stats[layer] = {"hoyer": hoyer, "selectivity": rng.random(units),
                            "selectivity_normalized": normalized, "class_means": rng.random((units, 10))}
        save_activation_statistics(artifact_path(run_dir, ACTIVATIONS), stats)
    new, old = activation_table(runs), previous.activation_table(runs)
    assert len(new) == 2 * (len(runs) - 1)
    pd.testing.assert_frame_equal(new, old, check_exact=True)
