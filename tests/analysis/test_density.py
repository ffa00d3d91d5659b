"""Section 4's figures: trajectories, the ED KDE and ED against the threshold."""

import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from propensity.analysis.density import (
    ed_by_threshold,
    effective_density_kde,
    pruning_trajectories,
    threshold_columns,
)
from tests.analysis.synthetic import quickstart_tables, run_row


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
    labels = [line.get_label() for line in fig.axes[0].lines if not line.get_label().startswith("_")]
    assert labels == ["1x (n=3): all at 0.400, no KDE"]


def test_threshold_columns_are_found_and_ordered(tables):
    assert list(threshold_columns(tables.runs)) == [0.01, 0.02, 0.05, 0.1]
    runs = tables.runs.drop(columns=list(threshold_columns(tables.runs).values()))
    texts = [t.get_text() for ax in ed_by_threshold(runs).axes for t in ax.texts]
    assert any("no ed_<threshold> columns" in t for t in texts)


def test_figure_3_marks_the_threshold_and_each_runs_ed_on_it(tables):
    fig = pruning_trajectories(tables.runs, tables.trajectories)
    ax = next(ax for ax in fig.axes if ax.get_title().startswith("MLP"))
    runs = tables.runs.query("model == 'mlp' and width == 2.0")
    steps = tables.trajectories[tables.trajectories["run_key"].isin(runs["run_key"])]
    allowed = steps[steps["level"] == 0]["val_acc"].mean() - 0.05  # absolute, 5 points
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 4  # one per width
    assert any(line.get_ydata()[0] == pytest.approx(allowed) for line in dashed)
    assert any(line.get_xdata()[1] == pytest.approx(runs["effective_density"].mean()) for line in dashed)
    diamonds = [c for c in ax.collections if isinstance(c, PathCollection)]
    eds = sorted(x for c in diamonds for x, _ in c.get_offsets())
    assert set(runs["effective_density"].round(9)) <= {round(x, 9) for x in eds}


def test_figure_4_shows_every_run_where_a_width_has_fewer_than_ten():
    few = quickstart_tables()  # 3 runs per width
    ax = effective_density_kde(few.runs).axes[0]
    points = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
    assert sorted(len(p) for p in points) == [3, 3, 3, 3]
    assert sorted(x for p in points for x, _ in p) == pytest.approx(sorted(few.runs["effective_density"]))
    assert all(y < 0 for p in points for _, y in p)  # on strips below the curves
    assert min(ax.get_yticks()) >= 0


def test_figure_4_draws_no_runs_where_a_width_has_ten_or_more(tables):
    ax = effective_density_kde(tables.runs).axes[0]  # 12 runs per width
    assert not [c for c in ax.collections if isinstance(c, PathCollection)]
