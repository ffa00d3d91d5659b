"""The propensity exponent: the mean of the seed clusters' OLS slopes of log core size on log
total weights, its t-interval, the equivalence tests and the verdict (section 4.2).

Coverage and size at 3, 5 and 10 clusters: test_exponent_coverage.py."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.weightstats import DescrStatsW

from propensity.analysis.exponent import (
    MIN_CLUSTERS_FOR_VERDICT,
    NEITHER,
    SUPPORTS_DENSITY,
    SUPPORTS_NULL,
    UNDECIDED,
    UNTESTED,
    ExponentFit,
    cluster_lines,
    exponent_sensitivity,
    exponent_summary,
    exponent_table,
    fit_exponent,
    local_exponents,
    tost_p,
    verdict,
    where_it_lies,
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
    fit = fit_exponent(total, core, seeds)
    # the logs of exact powers: only float rounding (~1e-15 per term) separates b from 0.7
    assert fit.b == pytest.approx(0.7, abs=1e-9)
    assert fit.ci_low == pytest.approx(0.7, abs=1e-9) and fit.ci_high == pytest.approx(0.7, abs=1e-9)
    assert (fit.n_runs, fit.n_widths, fit.n_clusters) == (100, 5, 20)


def test_b_is_the_mean_cluster_slope_with_the_t_interval_and_tost_of_statsmodels():
    total, core, seeds = synthetic(0.7, seeds=4)
    x, y = np.log(total), np.log(core)
    slopes = [hand_ols(x[seeds == s], y[seeds == s])[0] for s in range(4)]
    fit = fit_exponent(total, core, seeds)
    described = DescrStatsW(np.array(slopes))
    low, high = described.tconfint_mean(alpha=0.05)
    # sums of ~5 logs of order 10: float rounding far below 1e-10
    assert fit.b == pytest.approx(np.mean(slopes), abs=1e-10)
    assert (fit.ci_low, fit.ci_high) == pytest.approx((low, high), abs=1e-10)
    assert fit.p_equiv_density == pytest.approx(described.ttost_mean(0.9, 1.1)[0], abs=1e-10)
    assert fit.p_equiv_null == pytest.approx(described.ttost_mean(-0.1, 0.1)[0], abs=1e-10)


def test_a_cluster_run_at_one_width_has_no_slope_and_is_counted():
    total, core, seeds = synthetic(0.7, seeds=4)
    one_width = (seeds == 3) & (total != total[0])
    fit = fit_exponent(total[~one_width], core[~one_width], seeds[~one_width])
    assert fit.n_clusters == 3 and "1 cluster(s) run at one width only" in fit.note


def test_cluster_lines_are_each_clusters_ols_line():
    total, core, seeds = synthetic(0.8, seeds=6)
    x, y = np.log(total), np.log(core)
    slopes, intercepts = cluster_lines(x, y, seeds)
    for s in range(6):
        b, a = hand_ols(x[seeds == s], y[seeds == s])
        assert slopes[s] == pytest.approx(b, rel=1e-9) and intercepts[s] == pytest.approx(a, rel=1e-9)


def _fit(b, low, high, k=10, p_density=0.5, p_null=0.5):
    return ExponentFit(b, low, high, intercept=0.0, n_runs=4 * k, n_widths=4, n_clusters=k,
                       p_equiv_density=p_density, p_equiv_null=p_null, delta=0.1)


def test_the_verdict_names_a_hypothesis_only_with_enough_clusters():
    k = MIN_CLUSTERS_FOR_VERDICT
    for slope, expected in ((1.0, SUPPORTS_DENSITY), (0.0, SUPPORTS_NULL), (0.5, NEITHER)):
        total, core, seeds = synthetic(slope, seeds=k)
        fit = fit_exponent(total, core, seeds)
        assert verdict(fit, fit) == expected
        few = fit_exponent(total[seeds < k - 1], core[seeds < k - 1], seeds[seeds < k - 1])
        assert verdict(few, few) == f"too few seeds ({k - 1}) for a verdict"
    wide = _fit(0.9, 0.5, 1.3)  # reaches the b = 1 margin, too wide to fit inside it
    assert verdict(wide, wide) == UNDECIDED
    assert verdict(_fit(np.nan, np.nan, np.nan, p_density=np.nan), wide) == UNTESTED


def test_the_null_is_judged_on_the_uncapped_fit_and_density_on_every_width():
    every = _fit(0.5, 0.4, 0.6, p_density=0.9, p_null=0.9)
    uncapped = _fit(0.02, -0.03, 0.07, p_density=0.9, p_null=0.01)
    assert verdict(every, uncapped) == SUPPORTS_NULL
    # the same fits the wrong way round: the null p comes from the second, 0.9
    assert verdict(uncapped, every) == NEITHER


def test_tost_p_is_the_larger_one_sided_t_test():
    assert tost_p(1.0, 0.02, 9, 1.0, 0.1) < 0.001
    assert tost_p(1.0, 0.02, 9, 0.0, 0.1) == pytest.approx(1.0)
    # at the margin the one-sided test has p = 0.5
    assert tost_p(1.1, 0.05, 4, 1.0, 0.1) == pytest.approx(0.5)


def test_one_width_or_one_seed_says_what_is_missing():
    total, core, seeds = synthetic(0.7, widths=(1.0,))
    fit = fit_exponent(total, core, seeds)
    assert np.isnan(fit.b) and "2 widths" in fit.note
    total, core, seeds = synthetic(0.7, seeds=1)
    fit = fit_exponent(total, core, seeds)
    assert np.isfinite(fit.b) and np.isnan(fit.ci_low) and "one seed cluster" in fit.note


def test_exponent_recomputes_from_runs_parquet(tmp_path):
    make_tables().runs.to_parquet(tmp_path / "runs.parquet", index=False)
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    table = exponent_table(runs)
    assert len(table) == 4  # two model types x two inits
    done = runs[runs["status"] == "finished"]
    for _, row in table.iterrows():
        init = {"Glorot": "glorot", "He": "he"}[row["init"]]
        model = "mlp" if row["model_type"].startswith("MLP") else "conv2"
        group = done[(done["model"] == model) & (done["init"] == init)]
        x = np.log(group["total_weights"].astype(float))
        y = np.log(group["effective_density"] * group["total_weights"].astype(float))
        # two data seeds: the clusters; each holds three init seeds at every width
        lines = [hand_ols(x[group["data_seed"] == d], y[group["data_seed"] == d]) for d in (0, 1)]
        # sums of ~12 logs of order 10: float rounding well below 1e-10
        assert row["b"] == pytest.approx(np.mean([b for b, _ in lines]), abs=1e-10)
        assert row["intercept"] == pytest.approx(np.mean([a for _, a in lines]), abs=1e-10)
        assert (row["n_runs"], row["n_widths"], row["n_clusters"]) == (len(group), 4, 2)
        assert row["cluster"] == "data seed"
        assert row["ci_low"] < row["b"] < row["ci_high"]
        assert row["verdict"] == "too few seeds (2) for a verdict"
        assert row["n_left_out"] == 0


def test_one_data_split_clusters_on_the_init_seed():
    runs = make_tables(init_seeds=(0, 1, 2), data_seeds=(3,)).runs
    table = exponent_table(runs)
    assert set(table["cluster"]) == {"init seed, on one data split"}
    assert set(table["n_clusters"]) == {3}


def test_summary_says_where_0_and_1_lie_and_gives_one_verdict():
    row = exponent_table(make_tables().runs).iloc[0]
    text = exponent_summary(row)
    assert f"b = {row['b']:.2f}" in text and "95% CI" in text and "2 seed clusters by data seed" in text
    assert "b = 1 (constant density) lies " in text
    assert "b = 0 (constant core), tested over the uncapped widths" in text
    assert text.count("Verdict:") == 1 and "too few seeds (2) for a verdict" in text
    assert where_it_lies(0.0, 0.8, 0.95) == "far below the interval"
    assert where_it_lies(1.0, 0.8, 0.95) == "above the interval"
    assert where_it_lies(0.9, 0.8, 0.95) == "inside the interval"


def test_sensitivity_has_every_threshold_and_every_method():
    tables = make_tables()
    runs = tables.runs
    runs["effective_density_magnitude"] = runs["effective_density"]
    runs["effective_density_random"] = runs["effective_density"] * 1.5
    table = exponent_sensitivity(runs, tables.trajectories)
    measures = list(dict.fromkeys(table["measure"]))
    assert measures == [*(f"{100 * t:g}-point threshold" for t in THRESHOLDS),
                        "magnitude pruning", "random pruning"]
    # a constant factor on ED moves the intercept, never the slope
    by = table.set_index(["measure", "model_type", "init"])["b"]
    np.testing.assert_allclose(by["random pruning"], by["magnitude pruning"], atol=1e-12)
    unrecorded = table["note"].str.contains("never-degraded flags not recorded")
    expected = {m: m.endswith("pruning") for m in measures}
    assert unrecorded.groupby(table["measure"]).all().to_dict() == expected


def test_figure_has_a_panel_per_model_type_and_init_with_both_reference_lines():
    runs = make_tables().runs
    runs.loc[runs.index[0], "never_degraded"] = True
    fig = exponent_figure(runs)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 4
    labels = [label for ax in axes for label in ax.get_legend_handles_labels()[1]]
    assert any(s.startswith("b = 0") for s in labels) and any(s.startswith("b = 1") for s in labels)
    assert any(s.startswith("fit b = ") for s in labels) and any("t-band" in s for s in labels)
    assert any(s.startswith("never degraded: upper bound") for s in labels)


def test_local_exponents_are_the_slopes_between_adjacent_width_means():
    from propensity.analysis.core_sizes import core_frame

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


def test_a_constant_core_is_found_on_the_uncapped_widths_not_pulled_to_1_by_the_capped():
    """The paper's null made data: every run keeps a core of 20,000 weights (about the MLP's
    1x core on digits), which a model smaller than that cannot hold: ED is capped at 100%."""
    from tests.analysis.synthetic import mlp_digits_weights, run_row

    rng = np.random.default_rng(7)
    rows = []
    for data_seed in range(6):
        for width in (0.1, 0.5, 1.0, 2.0, 4.0):
            total = mlp_digits_weights(width)
            ed = min(1.0, 20_000 * np.exp(rng.normal(0, 0.02)) / total)
            rows.append(run_row(run_key=f"w{width}-d{data_seed}", width=width, data_seed=data_seed,
                                total_weights=total, effective_density=ed, ed_last_pass=ed,
                                unpruned_weights=round(ed * total)))
    row = exponent_table(pd.DataFrame(rows)).iloc[0]
    assert row["uncapped_widths"] == "1x, 2x, 4x"
    assert row["b"] > 0.2  # every width: the capped ones pull b up
    assert abs(row["b_uncapped"]) < 0.05 and row["p_equiv_null"] < 0.05
    assert row["verdict"] == SUPPORTS_NULL
