"""Pruning methods compared on one grid: magnitude read at edge-popup's densities."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from propensity.analysis.shared_grid import (
    read_at,
    shared_grid_differences,
    shared_grid_frame,
    shared_grid_summary,
)
from tests.analysis.synthetic import run_row

GRID = np.round(1 - 0.02 * np.arange(50), 2)  # 1.0, 0.98, ..., 0.02
POPUP = [0.9, 0.5, 0.3, 0.05]


def magnitude_acc(density: np.ndarray, ed: float) -> np.ndarray:
    """0.9 down to ed + 0.02, then a drop of 20 points: the fine-grid ED is `ed`."""
    return np.where(density > ed + 1e-9, 0.9, 0.7)


def tables(eds: dict[str, float], popup_eds: dict[str, float], start_exact: bool = True):
    runs, trajectories = [], []
    for key, ed in eds.items():
        runs.append(
            run_row(
                run_key=key,
                effective_density=ed,
                effective_density_magnitude=ed,
                effective_density_edge_popup=popup_eds[key],
            )
        )
        acc = magnitude_acc(GRID, ed)
        trajectories.append(
            pd.DataFrame(
                {
                    "run_key": key,
                    "method": "magnitude",
                    "level": range(len(GRID)),
                    "density": GRID,
                    "val_acc": acc,
                    "val_loss": 1 - acc,
                }
            )
        )
        density = np.array([1.0, *POPUP])
        popup_acc = np.where(density > popup_eds[key] + 1e-9, 0.9, 0.6)
        start = magnitude_acc(density, ed) if start_exact else np.full(len(density), 0.9)
        trajectories.append(
            pd.DataFrame(
                {
                    "run_key": key,
                    "method": "edge_popup",
                    "level": range(len(density)),
                    "density": density,
                    "val_acc": popup_acc,
                    "val_loss": 1 - popup_acc,
                    "start_val_acc": start,
                }
            )
        )
    return pd.DataFrame(runs), pd.concat(trajectories, ignore_index=True)


EDS = {"a": 0.42, "b": 0.46, "c": 0.30}
POPUP_EDS = {"a": 0.3, "b": 0.3, "c": 0.05}


def test_magnitude_is_read_at_edge_popups_densities_from_its_start_masks():
    runs, trajectories = tables(EDS, POPUP_EDS)
    frame = shared_grid_frame(runs, trajectories).set_index(["run_key", "method"])
    # On the grid 0.9, 0.5, 0.3, 0.05 the first density at or below the fine ED fails.
    expected = {"a": 0.3, "b": 0.3, "c": 0.3}
    for key, ed in expected.items():
        row = frame.loc[(key, "magnitude")]
        assert row["shared_ed"] == pytest.approx(ed) and row["source"] == "exact"
        assert row["fine_ed"] == pytest.approx(EDS[key])  # still reported on its own
        assert frame.loc[(key, "edge_popup"), "shared_ed"] == pytest.approx(POPUP_EDS[key])
    assert frame.loc[("a", "magnitude"), "grid"] == "0.9, 0.5, 0.3, 0.05"


def test_without_usable_start_masks_the_nearest_level_at_or_above_is_read():
    runs, trajectories = tables(EDS, POPUP_EDS, start_exact=False)
    frame = shared_grid_frame(runs, trajectories).set_index(["run_key", "method"])
    assert (frame.xs("magnitude", level="method")["source"] == "own").all()
    assert frame.loc[("a", "magnitude"), "shared_ed"] == pytest.approx(0.3)
    # 0.05 is not on the 2% grid: it reads the 0.06 level, the nearest at or above.
    read = read_at(trajectories[trajectories["method"] == "magnitude"].iloc[:50], np.array([0.05]))
    level_006 = trajectories[(trajectories["method"] == "magnitude")]
    level_006 = level_006[np.isclose(level_006["density"], 0.06)].iloc[0]
    assert read.loc[0, "val_acc"] == level_006["val_acc"]
    assert np.isnan(read_at(level_006.to_frame().T, np.array([0.01])).loc[0, "val_acc"])


def test_summary_and_paired_differences_on_the_shared_grid():
    runs, trajectories = tables(EDS, POPUP_EDS)
    frame = shared_grid_frame(runs, trajectories)
    summary = shared_grid_summary(frame).set_index("method")
    assert summary.loc["magnitude", "mean_shared_ed"] == pytest.approx(0.3)
    assert summary.loc["magnitude", "mean_fine_ed"] == pytest.approx(np.mean(list(EDS.values())))
    assert summary.loc["edge_popup", "n"] == 3
    paired = shared_grid_differences(frame).iloc[0]
    popup = [POPUP_EDS[k] for k in EDS]
    assert paired["method"] == "edge_popup" and paired["n_pairs"] == 3
    assert paired["mean_diff"] == pytest.approx(np.mean(popup) - 0.3)
    assert paired["p"] == pytest.approx(stats.ttest_rel(popup, [0.3] * 3).pvalue)


def test_runs_without_trajectories_give_an_empty_frame():
    runs, _ = tables(EDS, POPUP_EDS)
    assert shared_grid_frame(runs, pd.DataFrame(columns=["run_key", "method"])).empty
    assert shared_grid_differences(shared_grid_frame(runs, pd.DataFrame())).empty
