"""The retraining regimes' analysis on made-up runs with a known exponent per regime."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from propensity.analysis.exponent import (
    FIT_COLUMNS,
    NEITHER,
    SUPPORTS_DENSITY,
    SUPPORTS_NULL,
    exponent_table,
    line_from_sums,
    t_interval,
)
from propensity.analysis.regimes import (
    exponent_shifts,
    regime_exponents,
    regime_findings,
    regime_runs,
    regime_sentence,
    regime_summary,
    regime_table2,
    regimes_present,
    side_by_side,
)
from propensity.analysis.regimes_figure import regimes_figure
from tests.analysis.synthetic import mlp_digits_weights, regime_tables

TRUE_B = {"none": 1.0, "finetune": 0.5, "imp": 0.0, "imp_random": 0.9}


@pytest.fixture(scope="module")
def tables():
    return regime_tables(TRUE_B)


def test_each_regime_recovers_its_exponent_and_verdict(tables) -> None:
    fits = regime_exponents(tables.runs, tables.regimes).set_index("regime")
    assert list(fits.index) == ["none", "finetune", "imp", "imp_random"]
    # six clusters whose slopes scatter by 0.05: the mean is within 0.02 of b, 3 sd = 0.06
    for regime, b in TRUE_B.items():
        assert fits.loc[regime, "b"] == pytest.approx(b, abs=0.06)
        assert fits.loc[regime, "n_clusters"] == 6 and fits.loc[regime, "n_runs"] == 24
    assert fits.loc["none", "verdict"] == SUPPORTS_DENSITY
    assert fits.loc["imp", "verdict"] == SUPPORTS_NULL
    assert fits.loc["finetune", "verdict"] == NEITHER


def test_none_is_the_papers_exponent_of_the_same_runs(tables) -> None:
    """`none` goes through `exponent_table` exactly as the effective-density section does."""
    none = regime_exponents(tables.runs, tables.regimes).query("regime == 'none'")
    paper = exponent_table(tables.runs, "ED under none")
    pd.testing.assert_frame_equal(none[FIT_COLUMNS].reset_index(drop=True), paper)


def test_regime_runs_swaps_the_measure_and_keeps_only_runs_with_regimes(tables) -> None:
    regimes = tables.regimes[~((tables.regimes["run_key"] == "mlp-sgd-1-glorot-0-0")
                               & tables.regimes["regime"].isin(["none", "imp"]))]
    without = tables.runs.assign(run_key=tables.runs["run_key"].replace(
        "mlp-sgd-2-glorot-0-0", "no-regimes"))
    imp = regime_runs(without, regimes, "imp").set_index("run_key")
    none = regime_runs(without, regimes, "none").set_index("run_key")
    assert "no-regimes" not in imp.index and "no-regimes" not in none.index
    assert "mlp-sgd-1-glorot-0-0" not in imp.index  # no imp entry: no imp ED
    own = tables.runs.set_index("run_key").loc["mlp-sgd-1-glorot-0-0", "effective_density"]
    assert none.loc["mlp-sgd-1-glorot-0-0", "effective_density"] == own  # no none entry: its own
    entry = regimes.query("run_key == 'mlp-sgd-5-glorot-0-3' and regime == 'imp'").iloc[0]
    row = imp.loc["mlp-sgd-5-glorot-0-3"]
    for column in ("effective_density", "ed_last_pass", "unpruned_weights", "matching_density"):
        assert row[column] == entry[column]
    assert regime_runs(tables.runs, None, "imp").empty
    assert regimes_present(pd.DataFrame({"run_key": ["a"], "regime": ["zeta"]})) == ["none", "zeta"]


def test_shift_is_the_mean_paired_cluster_difference(tables) -> None:
    shifts = exponent_shifts(tables.runs, tables.regimes).set_index("regime")
    fits = regime_exponents(tables.runs, tables.regimes).set_index("regime")
    for regime in ("finetune", "imp", "imp_random"):
        row = shifts.loc[regime]
        # same runs, same clusters: the shift is the difference of the two fits' b
        assert row["shift"] == pytest.approx(fits.loc[regime, "b"] - fits.loc["none", "b"], abs=1e-12)
        # run noise 0.02 only (the cluster's tilt cancels): within 0.02 of the true shift
        assert row["shift"] == pytest.approx(TRUE_B[regime] - TRUE_B["none"], abs=0.02)
        paired = row["ci_high"] - row["ci_low"]
        assert paired < (fits.loc[regime, "ci_high"] - fits.loc[regime, "ci_low"]) / 2
        assert row["n_clusters"] == 6 and row["cluster"] == "data seed"


def test_findings_say_where_b_moved(tables) -> None:
    exponents = regime_exponents(tables.runs, tables.regimes)
    lines = regime_findings(exponents, exponent_shifts(tables.runs, tables.regimes))
    assert len(lines) == 3
    imp = next(line for line in lines if ", imp:" in line)
    assert "b under imp lies below the interval without retraining" in imp
    assert "imp moves b down toward 0" in imp and "Irto, Goldt and Sanguinetti" in imp
    control = next(line for line in lines if "imp_random (a control)" in line)
    assert "imp_random moves b down toward 0" in control


def test_too_few_seeds_withholds_the_verdict_but_keeps_the_intervals() -> None:
    few = regime_tables({"none": 1.0, "imp": 0.0}, data_seeds=(0, 1, 2))
    exponents = regime_exponents(few.runs, few.regimes)
    assert set(exponents["verdict"]) == {"too few seeds (3) for a verdict"}
    line = regime_findings(exponents, exponent_shifts(few.runs, few.regimes))[0]
    assert "too few seeds (3) for a verdict on whether imp moves b" in line
    assert "moves b down" not in line and "95% CI" in line


def _fit(regime: str, b: float, low: float, high: float, verdict: str = NEITHER,
         note: str = "") -> pd.Series:
    return pd.Series({"regime": regime, "b": b, "ci_low": low, "ci_high": high, "note": note,
                      "verdict": verdict})


def _shift(shift: float, low: float, high: float, k: int = 6) -> pd.Series:
    return pd.Series({"shift": shift, "ci_low": low, "ci_high": high, "n_clusters": k,
                      "n_runs": 4 * k, "note": ""})


def test_sentence_claims_only_what_the_intervals_carry() -> None:
    none = _fit("none", 0.8, 0.7, 0.9, SUPPORTS_DENSITY)
    still = regime_sentence(none, _fit("imp", 0.78, 0.68, 0.88, SUPPORTS_DENSITY), _shift(-0.02, -0.06, 0.02))
    assert "the intervals overlap" in still
    assert "the interval holds 0, so these runs give no evidence that imp moves b" in still
    assert "where the paper found it" in still and "moves b down" not in still
    # overlapping intervals, yet the pairing shows the move: both are said
    paired = regime_sentence(none, _fit("imp", 0.72, 0.62, 0.82), _shift(-0.08, -0.1, -0.06))
    assert "the intervals overlap" in paired and "imp moves b down toward 0" in paired
    up = regime_sentence(none, _fit("finetune", 1.2, 1.05, 1.35), _shift(0.4, 0.3, 0.5))
    assert "lies above the interval" in up and "finetune moves b up away from 0" in up
    unfit = _fit("imp", np.nan, np.nan, np.nan, note="needs runs at >= 2 widths")
    missing = regime_sentence(none, unfit, None)
    assert missing == "imp: exponent not estimated (needs runs at >= 2 widths)."


def test_table2_side_by_side_and_summary(tables) -> None:
    rows, verdicts = regime_table2(tables.runs, tables.regimes)
    assert sorted(set(rows["regime"])) == sorted(TRUE_B)
    table = side_by_side(rows)
    assert list(table.columns) == ["Model", "Size (x)", *(f"{r}: ED / null ED %" for r in TRUE_B)]
    assert len(table) == 4  # one row per width
    imp_1x = rows.query("regime == 'imp' and width == 1.0").iloc[0]
    cell = table.loc[table["Size (x)"] == "1", "imp: ED / null ED %"].iloc[0]
    assert cell.startswith(f"{100 * imp_1x['mean_ed']:.1f} ± ") and cell.endswith("(n=6)")
    # a constant core (imp) is not rejected, constant density (none) is
    status = {r: v.status for r, v in verdicts}
    assert status["imp"] == "not rejected" and status["none"] == "rejected"
    summary = regime_summary(tables.runs, tables.regimes)
    assert list(summary["regime"].unique()) == list(TRUE_B)
    assert (summary["n_runs"] == 6).all() and (summary["n_never_degraded"] == 0).all()
    assert regimes_figure(tables.runs, tables.regimes).axes


# --- The shift's interval at the seed counts people run (simulation) ---

REPEATS = 20_000
X = np.log([mlp_digits_weights(w) for w in (0.1, 0.5, 1.0, 2.0)])


def paired_slopes(k: int, seed: int, noise: str) -> tuple[np.ndarray, np.ndarray]:
    """(REPEATS, k) cluster slopes under none (b = 0.9) and a regime (b = 0.4) of the same
    runs: a cluster's intercept and tilt (sd 0.3, 0.05) shared by both, run noise (sd 0.1,
    normal or Student t with 3 df scaled to it) drawn per regime."""
    rng = np.random.default_rng(seed)
    shape = (REPEATS, k, 1)
    shared = rng.normal(0, 0.3, shape) + rng.normal(0, 0.05, shape) * X
    slopes = []
    for b in (0.9, 0.4):
        run = (rng.normal(0, 0.1, (REPEATS, k, len(X))) if noise == "normal"
               else 0.1 * rng.standard_t(3, (REPEATS, k, len(X))) / np.sqrt(3))
        y = 1.0 + shared + b * X + run
        x = np.broadcast_to(X, y.shape)
        sums = np.stack([np.ones_like(y), x, y, x * x, x * y], axis=-1).sum(axis=-2)
        slopes.append(line_from_sums(sums)[0])
    return slopes[0], slopes[1]


@pytest.mark.parametrize("noise", ["normal", "student_t3"])
@pytest.mark.parametrize("k", [3, 5, 10])
def test_shift_interval_covers_at_its_level(k: int, noise: str) -> None:
    """Coverage of the 95% interval of b(regime) - b(none) = -0.5: Monte-Carlo standard
    error 0.0015 at 20,000 repeats, so [0.93, 0.97] is 13 standard errors wide each way."""
    none, regime = paired_slopes(k, seed=k, noise=noise)
    _, low, high, _ = t_interval(regime - none)
    coverage = float(np.mean((low <= -0.5) & (high >= -0.5)))
    assert 0.93 <= coverage <= 0.97, coverage
