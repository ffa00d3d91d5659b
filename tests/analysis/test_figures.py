"""Every figure renders on a realistic sweep and on one width with one seed, and draws its data."""

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from propensity.analysis import (
    ed_by_init,
    ed_by_threshold,
    effective_density_kde,
    pruning_trajectories,
    stopping_points,
    threshold_columns,
    unpruned_vs_null,
    validation_accuracy_curves,
    validation_loss_curves,
    weight_counts_by_width,
)
from tests.analysis.synthetic import run_row

FIGURES = {
    "fig1": lambda t: validation_accuracy_curves(t.runs, t.histories),
    "fig2": lambda t: validation_loss_curves(t.runs, t.histories),
    "fig3": lambda t: pruning_trajectories(t.runs, t.trajectories),
    "fig4": lambda t: effective_density_kde(t.runs),
    "fig5": lambda t: weight_counts_by_width(t.runs),
    "fig6": lambda t: ed_by_init(t.runs),
    "threshold": lambda t: ed_by_threshold(t.runs),
    "null": lambda t: unpruned_vs_null(t.runs),
}


def render(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=30)
    return buffer.getvalue()


def visible_axes(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


@pytest.mark.parametrize("name", FIGURES)
def test_figure_renders_one_panel_per_model_type(name, tables):
    fig = FIGURES[name](tables)
    assert isinstance(fig, Figure)
    titles = {ax.get_title() for ax in visible_axes(fig)}
    assert titles == {"MLP/SGD · digits", "Conv-2/Adam · digits"}
    assert render(fig).startswith(b"\x89PNG")


@pytest.mark.parametrize("name", FIGURES)
def test_figure_renders_on_one_width_one_seed(name, degenerate):
    fig = FIGURES[name](degenerate)
    assert len(visible_axes(fig)) == 1
    assert render(fig).startswith(b"\x89PNG")


@pytest.mark.parametrize("name", FIGURES)
def test_figure_renders_without_complete_runs(name, degenerate):
    runs = degenerate.runs.assign(status="failed", effective_density=np.nan)
    fig = FIGURES[name](
        type(degenerate)(
            runs=runs, trajectories=degenerate.trajectories, histories=degenerate.histories
        )
    )
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no complete runs" in t for t in texts)
    render(fig)


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


def test_stop_points_sit_at_each_runs_stop_epoch(tables):
    points = stopping_points(tables.runs, tables.histories)
    done = tables.runs[tables.runs["status"] == "finished"].set_index("run_key")
    assert len(points) == len(done)
    assert (
        points["epoch"].to_numpy() == done.loc[points["run_key"], "stop_epoch"].to_numpy()
    ).all()


def test_threshold_columns_are_found_and_ordered(tables):
    assert list(threshold_columns(tables.runs)) == [0.01, 0.02, 0.05, 0.1]
    runs = tables.runs.drop(columns=list(threshold_columns(tables.runs).values()))
    texts = [t.get_text() for ax in ed_by_threshold(runs).axes for t in ax.texts]
    assert any("no ed_<threshold> columns" in t for t in texts)


def test_null_line_is_the_1x_core_capped_by_the_total(tables):
    fig = unpruned_vs_null(tables.runs)
    ax = next(ax for ax in fig.axes if ax.get_title().startswith("MLP"))
    null = next(line for line in ax.lines if line.get_label().startswith("null"))
    runs = tables.runs.query("model == 'mlp' and status == 'finished'")
    core = runs.loc[runs["width"] == 1.0, "unpruned_weights"].astype(float).mean()
    totals = runs.groupby("width")["total_weights"].median()
    assert null.get_ydata() == pytest.approx(np.minimum(core, totals.to_numpy()))
