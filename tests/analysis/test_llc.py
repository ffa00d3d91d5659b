"""Learning-coefficient tables and figures: arithmetic on hand-made runs, invalid ones left out."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from propensity.analysis.llc import (
    figure_llc_by_width,
    figure_llc_traces,
    figure_llc_vs_unpruned,
    llc_anova,
    llc_per_width,
    llc_vs_unpruned,
    read_traces,
    valid_llc,
)
from tests.analysis.synthetic import run_row

# (width, unpruned weights, llc mean, valid) for one model type; 2 valid + 1 invalid per width
RUNS = [
    (0.5, 100, 10.0, True), (0.5, 120, 12.0, True), (0.5, 110, -50.0, False),
    (1.0, 200, 20.0, True), (1.0, 260, 24.0, True), (1.0, 230, math.nan, False),
    (2.0, 400, 30.0, True), (2.0, 420, 34.0, True), (2.0, 410, 999.0, False),
]


def llc_runs() -> pd.DataFrame:
    rows = [
        run_row(run_key=f"r{i}", width=w, unpruned_weights=u, llc_mean=m, llc_std=1.0, llc_valid=v,
                llc_reason=None if v else "chain 0 diverged: NaN loss at draw 3")
        for i, (w, u, m, v) in enumerate(RUNS)
    ]
    rows.append(run_row(run_key="plain", width=1.0))  # a run that never asked for an estimate
    return pd.DataFrame(rows)


def test_invalid_estimates_are_never_averaged() -> None:
    runs = llc_runs()
    assert sorted(valid_llc(runs)["llc_mean"]) == [10, 12, 20, 24, 30, 34]
    table = llc_per_width(runs).set_index("width")
    assert table["n"].tolist() == [2, 2, 2]
    assert table["invalid"].tolist() == [1, 1, 1]
    assert table.loc[0.5, "mean"] == pytest.approx(11.0)
    assert table.loc[1.0, "sd"] == pytest.approx(np.std([20, 24], ddof=1))


def test_rank_correlation_with_unpruned_weights() -> None:
    row = llc_vs_unpruned(llc_runs()).iloc[0]
    # valid pairs: unpruned 100,120,200,260,400,420 vs llc 10,12,20,24,30,34: same order
    assert row["n"] == 6 and row["rho"] == pytest.approx(1.0) and row["note"] == ""


def test_rank_correlation_needs_three_estimates() -> None:
    row = llc_vs_unpruned(llc_runs().iloc[:2]).iloc[0]
    assert math.isnan(row["rho"]) and "needs >= 3" in row["note"]


def test_anova_across_widths_uses_valid_estimates() -> None:
    row = llc_anova(llc_runs()).iloc[0]
    assert row["groups"] == 3 and row["n"] == 6
    assert row["runs_per_width"] == "0.5x: 2, 1x: 2, 2x: 2"
    # group means 11, 22, 32 around 21.67, each group's spread +-1 or +-2
    ss_between = 2 * ((11 - 65 / 3) ** 2 + (22 - 65 / 3) ** 2 + (32 - 65 / 3) ** 2)
    ss_within = 2 + 8 + 8
    assert row["F"] == pytest.approx((ss_between / 2) / (ss_within / 3))
    assert row["p"] < 0.01


def test_runs_without_llc_columns_give_empty_tables() -> None:
    runs = pd.DataFrame([run_row()])
    assert llc_per_width(runs).empty and llc_vs_unpruned(runs).empty and llc_anova(runs).empty


def test_read_traces(tmp_path) -> None:
    assert read_traces(tmp_path) is None
    frame = pd.DataFrame({"chain": [0, 0, 1, 1], "draw": [0, 1, 0, 1], "loss": [1.0, 1.1, 1.0, 1.2],
                          "init_loss": 0.9})
    frame.to_csv(tmp_path / "llc_traces.csv", index=False)
    pd.testing.assert_frame_equal(read_traces(tmp_path), frame)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_figures_render_and_draw_the_valid_runs() -> None:
    runs = llc_runs()
    by_width = figure_llc_by_width(runs)
    (ax,) = by_width.axes
    dots = ax.lines[0]
    assert sorted(dots.get_ydata()) == [10, 12, 20, 24, 30, 34]
    scatter = figure_llc_vs_unpruned(runs)
    assert sum(len(c.get_offsets()) for c in scatter.axes[0].collections) == 6
    traces = pd.DataFrame({"chain": [0, 0, 1, 1], "draw": [0, 1, 0, 1], "loss": [1.0, 1.1, 1.0, 1.2],
                           "init_loss": 0.9})
    fig = figure_llc_traces({"run a": traces})
    assert len(fig.axes[0].lines) == 3  # two chains and the trained loss
    for figure in (by_width, scatter, fig, figure_llc_traces({})):
        assert _png(figure).startswith(b"\x89PNG")
