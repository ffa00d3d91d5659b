"""Section 4's figures: trajectories, the ED KDE and ED against the threshold."""

import pandas as pd
import pytest

from propensity.analysis.density import (
    ed_by_threshold,
    effective_density_kde,
    pruning_trajectories,
    threshold_columns,
)
from tests.analysis.synthetic import run_row


def test_trajectory_line_is_the_mean_accuracy_per_level(tables):
    fig = pruning_trajectories(tables.runs, tables.trajectories)
    ax = next(ax for ax in fig.axes if ax.get_title().startswith("MLP"))
    line = next(line for line in ax.lines if line.get_label().startswith("2x"))
    keys = tables.runs.query("model == 'mlp' and width == 2.0")["run_key"]
    steps = tables.trajectories[tables.trajectories["run_key"].isin(keys)]
    expected = steps.groupby("level")["val_acc"].mean().to_numpy()
    assert line.get_ydata() == pytest.approx(expected)
    assert line.get_label() == "2x (n=12)"


def test_kde_of_identical_values_is_drawn_as_a_line_not_an_error():
    runs = pd.DataFrame(
        [run_row(run_key=f"r{i}", init_seed=i, effective_density=0.4) for i in range(3)]
    )
    fig = effective_density_kde(runs)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["1x (n=3): all at 0.400, no KDE"]


def test_threshold_columns_are_found_and_ordered(tables):
    assert list(threshold_columns(tables.runs)) == [0.01, 0.02, 0.05, 0.1]
    runs = tables.runs.drop(columns=list(threshold_columns(tables.runs).values()))
    texts = [t.get_text() for ax in ed_by_threshold(runs).axes for t in ax.texts]
    assert any("no ed_<threshold> columns" in t for t in texts)
