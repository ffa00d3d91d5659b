"""The propensity exponent: OLS of log core size on log total weights, its seed-cluster
bootstrap and the equivalence tests (section 4.2)."""

import numpy as np
import pandas as pd
import pytest

from propensity.analysis.exponent import (
    NEITHER,
    SUPPORTS_DENSITY,
    SUPPORTS_NULL,
    UNTESTED,
    bootstrap_lines,
    core_frame,
    exponent_sensitivity,
    exponent_summary,
    exponent_table,
    fit_exponent,
    local_exponents,
    tost_p,
    verdict,
)
from propensity.analysis.exponent_figure import exponent_figure
from tests.analysis.synthetic import THRESHOLDS, make_tables


def hand_ols(x, y):
    """Least squares written out: b = S_xy / S_xx about the means."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xm, ym = sum(x) / len(x), sum(y) / len(y)
    b = sum((xi - xm) * (yi - ym) for xi, yi in zip(x, y, strict=True)) / sum((xi - xm) ** 2 for xi in x)
    return b, ym - b * xm


def synthetic(slope, seeds=20, widths=(0.25, 0.5, 1, 2, 4), noise=0.05, seed_sd=0.1, rng_seed=1):
    """Runs whose core grows as total^slope, a shared offset per seed and noise per run."""
    rng = np.random.default_rng(rng_seed)
    total, core, cluster = [], [], []
    for s in range(seeds):
        offset = rng.normal(0, seed_sd)
        for w in widths:
            t = 20_000 * w**2
            total.append(t)
            core.append(np.exp(1.0 + slope * np.log(t) + offset + rng.normal(0, noise)))
            cluster.append(s)
    return np.array(total), np.array(core), np.array(cluster)


def test_noise_free_power_law_gives_its_exponent_and_a_point_interval():
    total, core, seeds = synthetic(0.7, noise=0.0, seed_sd=0.0)
    fit = fit_exponent(total, core, seeds, resamples=200)
    # the logs of exact powers: only float rounding (~1e-15 per term) separates b from 0.7
    assert fit.b == pytest.approx(0.7, abs=1e-9)
    assert fit.ci_low == pytest.approx(0.7, abs=1e-9) and fit.ci_high == pytest.approx(0.7, abs=1e-9)
    assert (fit.n_runs, fit.n_widths, fit.n_seeds) == (100, 5, 20)


def test_ols_recovers_a_known_slope_and_the_bootstrap_interval_covers_it():
    total, core, seeds = synthetic(0.7)
    fit = fit_exponent(total, core, seeds, resamples=2000)
    x = np.log(total)
    # the slope's standard error with per-run noise 0.05 (seed offsets cancel within a seed)
    se = 0.05 / np.sqrt(np.sum((x - x.mean()) ** 2))
    assert abs(fit.b - 0.7) < 4 * se
    assert fit.ci_low < 0.7 < fit.ci_high
    assert fit.ci_high - fit.ci_low < 20 * se
    assert fit.verdict == NEITHER  # 0.7 is within 0.1 of neither hypothesis


def test_the_verdict_names_the_hypothesis_the_data_sit_on():
    for slope, expected in ((1.0, SUPPORTS_DENSITY), (0.0, SUPPORTS_NULL), (0.5, NEITHER)):
        total, core, seeds = synthetic(slope)
        assert fit_exponent(total, core, seeds, resamples=999).verdict == expected


def test_tost_p_values_are_the_larger_tail_beyond_the_margin():
    inside = np.full(99, 1.02)
    assert tost_p(inside, 1.0, 0.1) == pytest.approx(1 / 100)
    assert tost_p(inside, 0.0, 0.1) == pytest.approx(1.0)
    straddling = np.r_[np.full(50, 1.05), np.full(49, 1.15)]
    assert tost_p(straddling, 1.0, 0.1) == pytest.approx(50 / 100)
    assert tost_p(np.array([np.nan, np.nan]), 1.0, 0.1) != tost_p(np.array([np.nan, np.nan]), 1.0, 0.1)


def test_tost_rejects_exactly_when_the_90_percent_interval_is_inside_the_margin():
    rng = np.random.default_rng(3)
    for centre in (0.92, 0.95, 1.0, 1.06, 1.09):
        slopes = rng.normal(centre, 0.02, 4999)
        low, high = np.quantile(slopes, [0.05, 0.95])
        inside = low > 0.9 and high < 1.1
        assert (tost_p(slopes, 1.0, 0.1) < 0.05) == inside


def test_verdict_untested_with_a_missing_p():
    assert verdict(np.nan, 0.01) == UNTESTED
    assert verdict(0.01, 0.5) == SUPPORTS_DENSITY


def test_one_width_or_one_seed_says_what_is_missing():
    total, core, seeds = synthetic(0.7, widths=(1.0,))
    fit = fit_exponent(total, core, seeds)
    assert np.isnan(fit.b) and fit.verdict == UNTESTED and "2 widths" in fit.note
    total, core, seeds = synthetic(0.7, seeds=1)
    fit = fit_exponent(total, core, seeds)
    assert np.isfinite(fit.b) and np.isnan(fit.ci_low) and "one seed" in fit.note


def test_bootstrap_lines_are_the_ols_lines_of_the_drawn_runs():
    total, core, seeds = synthetic(0.8, seeds=6)
    x, y = np.log(total), np.log(core)
    slopes, intercepts = bootstrap_lines(x, y, seeds, resamples=20, seed=5)
    picks = np.random.default_rng(5).integers(0, 6, size=(20, 6))
    for draw, slope, intercept in zip(picks, slopes, intercepts, strict=True):
        take = np.concatenate([np.flatnonzero(seeds == s) for s in draw])
        b, a = hand_ols(x[take], y[take])
        assert slope == pytest.approx(b, rel=1e-9) and intercept == pytest.approx(a, rel=1e-9)


def test_exponent_recomputes_from_runs_parquet(tmp_path):
    make_tables().runs.to_parquet(tmp_path / "runs.parquet", index=False)
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    table = exponent_table(runs, resamples=500)
    assert len(table) == 4  # two model types x two inits
    done = runs[runs["status"] == "finished"]
    for _, row in table.iterrows():
        init = {"Glorot": "glorot", "He": "he"}[row["init"]]
        model = "mlp" if row["model_type"].startswith("MLP") else "conv2"
        group = done[(done["model"] == model) & (done["init"] == init)]
        x = np.log(group["total_weights"].astype(float))
        y = np.log(group["effective_density"] * group["total_weights"].astype(float))
        b, a = hand_ols(x, y)
        # sums of ~50 logs of order 10: float rounding well below 1e-10
        assert row["b"] == pytest.approx(b, abs=1e-10)
        assert row["intercept"] == pytest.approx(a, abs=1e-10)
        assert (row["n_runs"], row["n_widths"], row["n_seeds"]) == (len(group), 4, 6)
        assert row["ci_low"] < row["b"] < row["ci_high"]
        assert row["n_left_out"] == 0


def test_core_frame_is_ed_times_total_and_seeds_pair_init_and_data_seed():
    frame = core_frame(make_tables(init_seeds=(0, 1), data_seeds=(3,)).runs)
    assert set(frame["seeds"]) == {"0/3", "1/3"}
    runs = complete = make_tables().runs
    complete = runs[runs["status"] == "finished"].set_index("run_key")
    frame = core_frame(runs).set_index("run_key")
    expected = complete["effective_density"] * complete["total_weights"]
    np.testing.assert_allclose(frame["core_size"], expected.loc[frame.index], rtol=1e-15)


def test_runs_without_a_core_are_counted_not_fitted():
    runs = make_tables().runs
    runs.loc[runs.index[0], "effective_density"] = 0.0
    table = exponent_table(runs, resamples=100)
    assert table["n_left_out"].sum() == 1


def test_runs_that_never_degraded_are_named_as_censored():
    runs = make_tables().runs
    runs.loc[runs.index[:2], "never_degraded"] = True
    notes = exponent_table(runs, resamples=100)["note"]
    assert notes.str.contains("never degraded: core censored").sum() >= 1


def test_sensitivity_has_every_threshold_and_every_method():
    runs = make_tables().runs
    runs["effective_density_magnitude"] = runs["effective_density"]
    runs["effective_density_random"] = runs["effective_density"] * 1.5
    table = exponent_sensitivity(runs, resamples=100)
    measures = list(dict.fromkeys(table["measure"]))
    assert measures == [*(f"{100 * t:g}-point threshold" for t in THRESHOLDS),
                        "magnitude pruning", "random pruning"]
    # a constant factor on ED moves the intercept, never the slope
    by = table.set_index(["measure", "model_type", "init"])["b"]
    np.testing.assert_allclose(by["random pruning"], by["magnitude pruning"], atol=1e-12)


def test_summary_sentence_quotes_b_interval_counts_and_verdict():
    row = exponent_table(make_tables().runs, resamples=200).iloc[0]
    text = exponent_summary(row)
    assert f"b = {row['b']:.2f}" in text and "95% CI" in text and "seeds" in text
    assert "supported:" in text and "delta = 0.1" in text


def test_figure_has_a_panel_per_model_type_and_init_with_both_reference_lines():
    fig = exponent_figure(make_tables().runs, resamples=100)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    labels = axes[0].get_legend_handles_labels()[1]
    assert any(s.startswith("b = 0") for s in labels) and any(s.startswith("b = 1") for s in labels)
    assert any(s.startswith("fit b = ") for s in labels) and any("band" in s for s in labels)


def test_local_exponents_are_the_slopes_between_adjacent_width_means():
    runs = make_tables().runs
    local = local_exponents(runs)
    frame = core_frame(runs)
    first = local.iloc[0]
    group = frame[(frame["model_type"] == first["model_type"]) & (frame["init"] == "glorot")]
    one, two = (group[group["width"] == w] for w in (first["from_width"], first["to_width"]))
    expected = (np.log(two["core_size"]).mean() - np.log(one["core_size"]).mean()) / (
        np.log(two["total_weights"]).mean() - np.log(one["total_weights"]).mean()
    )
    assert first["local_b"] == pytest.approx(expected, rel=1e-12)
    assert len(local) == 4 * 3  # four groups, four widths: three adjacent pairs each
