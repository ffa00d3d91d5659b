"""Every figure has one panel per model type, on a realistic sweep, on one width with one seed
and without complete runs."""

import io

import numpy as np
import pytest
from matplotlib.figure import Figure

from propensity.analysis import (
    ed_by_init,
    ed_by_threshold,
    effective_density_kde,
    pruning_trajectories,
    unpruned_vs_null,
    validation_accuracy_curves,
    validation_loss_curves,
    weight_counts_by_width,
)

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
