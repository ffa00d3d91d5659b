"""Table 1: this project's weight counts and the paper's, and the formulas behind the paper's;
Figure 5's null line."""

import numpy as np
import pandas as pd
import pytest

from propensity.analysis.weight_counts import (
    PAPER_TABLE1,
    observed_weight_counts,
    paper_conv2_count,
    paper_resnet_count,
    project_count,
    table1,
    unpruned_vs_null,
)
from propensity.models import Conv2
from propensity.pruning import total_weights


@pytest.mark.parametrize(("width", "expected"), PAPER_TABLE1["conv2"].items())
def test_paper_conv2_formula_reproduces_table1_exactly(width, expected):
    assert paper_conv2_count(width) == expected


@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_paper_resnet_formula_reproduces_table1(width):
    assert paper_resnet_count(width) == PAPER_TABLE1["resnet"][width]


def test_paper_resnet_formula_is_20_short_at_width_0_1_as_documented():
    assert PAPER_TABLE1["resnet"][0.1] - paper_resnet_count(0.1) == 20


@pytest.mark.parametrize(("width", "expected"), PAPER_TABLE1["mlp"].items())
def test_project_mlp_counts_equal_the_papers(width, expected):
    assert project_count("mlp", width) == expected


def test_project_count_on_meta_device_equals_a_real_model():
    assert project_count("conv2", 1.0) == total_weights(Conv2(width=1.0)) == 4_300_992
    assert project_count("mlp", 1.0, input_shape=(1, 8, 8)) == 64 * 300 + 300 * 100 + 100 * 10


def test_table1_has_both_counts_and_na_where_the_paper_trained_no_model():
    frame = table1()
    assert len(frame) == 15
    row = frame[(frame["model"] == "conv2") & (frame["width"] == 5.0)].iloc[0]
    assert pd.isna(row["paper_weights"]) and row["project_weights"] > 0
    mlp = frame[frame["model"] == "mlp"]
    assert (mlp["paper_over_project"] == 1.0).all()


def test_observed_weight_counts_lists_distinct_counts(tables):
    runs = tables.runs.copy()
    first = runs.index[0]
    runs.loc[first, "total_weights"] = runs.loc[first, "total_weights"] + 1
    frame = observed_weight_counts(runs)
    cell = frame[
        (frame["model"] == runs.loc[first, "model"]) & (frame["width"] == runs.loc[first, "width"])
    ].iloc[0]
    assert "," in cell["total_weights"]


def test_null_line_is_the_1x_core_capped_by_the_total(tables):
    fig = unpruned_vs_null(tables.runs)
    ax = next(ax for ax in fig.axes if ax.get_title().startswith("MLP"))
    null = next(line for line in ax.lines if line.get_label().startswith("null"))
    runs = tables.runs.query("model == 'mlp' and status == 'finished'")
    core = runs.loc[runs["width"] == 1.0, "unpruned_weights"].astype(float).mean()
    totals = runs.groupby("width")["total_weights"].median()
    assert null.get_ydata() == pytest.approx(np.minimum(core, totals.to_numpy()))
