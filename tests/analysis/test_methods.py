"""Pruning methods compared per width (sections 2 and 6): long form, summaries, paired tests, figures."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from propensity.analysis.methods import (
    ed_by_method,
    method_frame,
    method_summary,
    methods_present,
    paired_differences,
    trajectories_by_method,
)
from tests.analysis.synthetic import run_row

# (width, init_seed) -> ED per method; random needs more weights, global magnitude about the same.
EDS = {
    (0.5, 0): {"magnitude": 0.40, "random": 0.80, "global_magnitude": 0.38},
    (0.5, 1): {"magnitude": 0.44, "random": 0.86, "global_magnitude": 0.45},
    (0.5, 2): {"magnitude": 0.42, "random": 0.81, "global_magnitude": 0.40},
    (1.0, 0): {"magnitude": 0.30, "random": 0.70, "global_magnitude": 0.31},
    (1.0, 1): {"magnitude": 0.34, "random": 0.76},
    (2.0, 0): {"magnitude": 0.20, "random": 0.60, "global_magnitude": 0.22},
}


def _runs() -> pd.DataFrame:
    rows = []
    for (width, seed), eds in EDS.items():
        total = int(1000 * width)
        extra = {}
        for method in ("magnitude", "random", "global_magnitude"):
            ed = eds.get(method)
            extra[f"effective_density_{method}"] = ed
            extra[f"unpruned_weights_{method}"] = None if ed is None else round(ed * total)
        rows.append(
            run_row(
                run_key=f"w{width}-s{seed}",
                width=width,
                init_seed=seed,
                total_weights=total,
                effective_density=eds["magnitude"],
                unpruned_weights=round(eds["magnitude"] * total),
                **extra,
            )
        )
    rows.append(run_row(run_key="failed", status="failed", effective_density=None, width=0.5))
    return pd.DataFrame(rows)


def test_methods_present_magnitude_first_and_fallback_without_per_method_columns():
    runs = _runs()
    assert methods_present(runs) == ["magnitude", "random", "global_magnitude"]
    old = runs[[c for c in runs.columns if not c.startswith(("effective_density_", "unpruned_weights_"))]]
    assert methods_present(old) == ["magnitude"]
    assert set(method_frame(old)["method"]) == {"magnitude"}


def test_method_frame_is_one_row_per_complete_run_and_method():
    frame = method_frame(_runs())
    assert len(frame) == 6 + 6 + 5  # the failed run is out; one run lacks global_magnitude
    row = frame[(frame["run_key"] == "w1.0-s0") & (frame["method"] == "random")].iloc[0]
    assert row["effective_density"] == pytest.approx(0.70)
    assert row["unpruned_weights"] == 700


def test_method_summary_means_stds_and_counts():
    summary = method_summary(_runs()).set_index(["width", "method"])
    half = summary.loc[(0.5, "random")]
    assert half["n"] == 3
    assert half["mean_ed"] == pytest.approx(np.mean([0.80, 0.86, 0.81]))
    assert half["std_ed"] == pytest.approx(np.std([0.80, 0.86, 0.81], ddof=1))
    assert half["mean_unpruned"] == pytest.approx(np.mean([400, 430, 405]))
    one = summary.loc[(2.0, "global_magnitude")]
    assert one["n"] == 1 and np.isnan(one["std_ed"]) and "1 run" in one["note"]
    assert summary.loc[(1.0, "global_magnitude")]["n"] == 1
    assert list(summary.loc[0.5].index) == ["magnitude", "random", "global_magnitude"]


def test_paired_differences_pair_by_run_and_holm_adjust():
    runs = _runs()
    table = paired_differences(runs).set_index(["width", "method"])
    assert set(table.index.get_level_values("method")) == {"random", "global_magnitude"}
    half = table.loc[(0.5, "global_magnitude")]
    mine = [0.38, 0.45, 0.40]
    theirs = [0.40, 0.44, 0.42]
    assert half["p"] == pytest.approx(stats.ttest_rel(mine, theirs).pvalue)
    assert half["n_pairs"] == 3 and half["reference"] == "magnitude"
    # width 1: random has 2 pairs, global magnitude only the run that recorded it
    assert table.loc[(1.0, "random")]["n_pairs"] == 2
    assert table.loc[(1.0, "global_magnitude")]["n_pairs"] == 1
    assert "needs >= 2" in table.loc[(1.0, "global_magnitude")]["note"]
    ran = table["p"].notna()
    assert table.loc[ran, "p_holm"].to_numpy() == pytest.approx(_holm(table.loc[ran, "p"]))
    assert table.loc[~ran, "p_holm"].isna().all()


def _holm(p: pd.Series) -> np.ndarray:
    """Holm's step-down adjustment written out, to check the table's p_holm."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]).clip(max=1)
    out = np.empty_like(p)
    out[order] = adjusted
    return out


def test_paired_differences_without_the_reference_method_is_empty():
    runs = _runs().drop(columns=["effective_density_magnitude", "unpruned_weights_magnitude"])
    assert paired_differences(runs).empty


def test_ed_by_method_draws_one_series_per_method_with_counts():
    fig = ed_by_method(_runs())
    labels = fig.axes[0].get_legend_handles_labels()[1]
    # each point is one width's runs: 3, 2 and 1 (global_magnitude: 3, 1 and 1), not the total
    assert labels == ["magnitude (n=1-3 per point)", "random (n=1-3 per point)",
                      "global_magnitude (n=1-3 per point)"]


def test_trajectories_by_method_one_figure_per_method():
    runs = _runs()
    frames = []
    for key in runs["run_key"]:
        for method in ("magnitude", "random"):
            density = np.linspace(1, 0, 11)
            frames.append(
                pd.DataFrame(
                    {
                        "run_key": key,
                        "method": method,
                        "level": range(11),
                        "density": density,
                        "val_acc": density,
                    }
                )
            )
    figures = trajectories_by_method(runs, pd.concat(frames, ignore_index=True))
    assert list(figures) == ["magnitude", "random"]
    title = "Validation accuracy against density, random pruning (as Figure 3)"
    assert figures["random"].get_suptitle().replace("\n", " ") == title  # wrapped to fit
    assert figures["magnitude"].get_suptitle().startswith("Figure 3:")
    means = [line for line in figures["random"].axes[0].get_lines() if not line.get_label().startswith("_")]
    assert len(means) == 3  # one line per width (the others mark the threshold)


def test_more_methods_than_a_legend_holds_get_a_panel_each_against_magnitude():
    from matplotlib.collections import PathCollection

    from propensity.analysis.methods import OVERLAID_METHODS, ed_by_method
    from propensity.pruning.registry import METHOD_NAMES
    from tests.analysis.synthetic import criteria_tables, quickstart_tables

    few = ed_by_method(quickstart_tables().runs)
    assert len(few.axes) == 1 and few.axes[0].get_legend() is not None
    assert len(METHOD_NAMES) > OVERLAID_METHODS
    many = ed_by_method(criteria_tables().runs)
    shown = [ax for ax in many.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == [m for m in METHOD_NAMES if m != "magnitude"]
    assert all(ax.get_legend() is None for ax in shown)
    # each panel: magnitude and its method, mean per width (4 widths), 3 runs as circles each
    first = shown[0]
    assert len([line for line in first.get_lines() if line.get_marker() == "o"]) == 2
    circles = sum(len(c.get_offsets()) for c in first.collections if isinstance(c, PathCollection))
    assert circles == 2 * 4 * 3
