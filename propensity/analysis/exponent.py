"""The propensity exponent: how the core size grows with the model (section 4.2).

The paper's null hypothesis (section 4.2) is that the core size |omega| = ED x |theta| does
not change with width; its finding is that ED is "relatively stable" instead. Both are power
laws, |omega| ~ |theta|^b, so one regression measures the contrast directly: the slope of
log(core size) on log(total weights).

- b = 0 is the null hypothesis: the core does not grow;
- b = 1 is constant density: the core grows in proportion to the model.

Which runs enter and with what core (runs that never degraded are upper bounds and are left
out; zero-core runs are read one step up), the seed clusters and the capped widths are
decided in `propensity.analysis.core_sizes`.

**The interval.** Runs that share a seed cluster (the data seed, whose split ED is read on;
the init seed where there is one split) are not independent, and there are few clusters:
3 to 10 in the grids people run. Each cluster gets its own OLS line across the widths; b is
the mean of the k cluster slopes and its interval the t-interval with k - 1 degrees of
freedom (`scipy.stats.t`). It is exact when the cluster slopes are normal around b, which
they are approximately, each being a weighted sum of many runs' log-ED noise. The
simulation in ``tests/analysis/test_exponent_coverage.py`` checks it: coverage of the 95%
interval 0.93 to 0.97 and TOST size at most 0.06 at 3, 5 and 10 clusters. A percentile
bootstrap over clusters cannot do this: at k = 3 it has 10 distinct resamples and its
"95%" interval is the range of the three slopes. CR2 would give the same degrees of
freedom here and needs a model of the within-cluster noise; the per-cluster slope needs
none.

**The tests.** Equivalence (TOST, alpha = 0.05): "b within +-delta of 1" on every width, and
"b within +-delta of 0" on the uncapped widths only (where a constant core can show as
b = 0; below them the null predicts b = 1), each with the t statistic of its own fit; a
hypothesis is supported when its 90% t-interval lies inside (target - delta, target +
delta). delta = 0.1 by default: a tenth of the distance between the hypotheses; over the
paper's MLP widths (25 times the weights) it moves the core by a factor 25^0.1 = 1.38.

**The verdict** needs `MIN_CLUSTERS_FOR_VERDICT` clusters. The size and coverage hold from
3 clusters, but three slopes cannot check the normality the interval rests on, and the test
has little power: with cluster slopes that scatter by delta / 2, a b exactly on a
hypothesis is shown equivalent in 0.56 of samples at 3 clusters, 0.83 at 4 and 0.95 at 5
(the same simulation). Below that the estimate and interval stand and the verdict reads
"too few seeds (k) for a verdict". From there: the hypothesis shown equivalent; "neither"
when the interval lies outside both margins (the core grows, at a rate that is neither);
"undecided" when it reaches a margin without fitting inside one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from propensity.analysis.core_sizes import (
    ZERO_CORE,
    core_frame,
    degradation_by_threshold,
    entry_counts,
    seed_clusters,
    uncapped_widths,
)
from propensity.analysis.density import threshold_columns
from propensity.analysis.methods import methods_present
from propensity.analysis.model_types import INIT_NAMES, complete_runs, width_label

DELTA = 0.1
ALPHA = 0.05
CONFIDENCE = 0.95
# The fewest seed clusters at which the verdict has its size and power (module docstring).
MIN_CLUSTERS_FOR_VERDICT = 5
# The hypotheses the verdict names, by their exponent.
NULL, CONSTANT_DENSITY = 0.0, 1.0
SUPPORTS_DENSITY = "constant density (b = 1)"
SUPPORTS_NULL = "constant core, the null hypothesis (b = 0)"
NEITHER = "neither: b is more than delta from both 0 and 1"
UNDECIDED = "undecided: the interval is too wide to place b within delta of 0 or 1, or outside both"
UNTESTED = "untested"
TOO_FEW = "too few seeds ({k}) for a verdict"

FIT_COLUMNS = [
    "model_type", "init", "measure", "b", "ci_low", "ci_high", "intercept", "n_runs",
    "n_widths", "n_clusters", "cluster", "b_uncapped", "ci_low_uncapped", "ci_high_uncapped",
    "uncapped_widths", "p_equiv_density", "p_equiv_null", "delta", "verdict",
    "n_never_degraded", "n_zero_core", "n_left_out", "entries", "note",
]


def cluster_sums(x: np.ndarray, y: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """(clusters x 5) per-cluster sums of 1, x, y, x^2 and xy: all an OLS line needs."""
    _, index = np.unique(clusters, return_inverse=True)
    terms = np.column_stack([np.ones_like(x), x, y, x * x, x * y])
    sums = np.zeros((index.max() + 1, 5))
    np.add.at(sums, index, terms)
    return sums


def line_from_sums(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(slope, intercept) of the OLS line from summed (n, Sx, Sy, Sxx, Sxy) on the last axis;
    NaN where x does not vary (a cluster run at one width)."""
    n, sx, sy, sxx, sxy = np.moveaxis(sums, -1, 0)
    sxx_c = sxx - sx * sx / n
    with np.errstate(divide="ignore", invalid="ignore"):
        # centred x spread at float-noise level: one width only
        slope = np.where(sxx_c > 1e-9 * sxx, (sxy - sx * sy / n) / sxx_c, np.nan)
    return slope, (sy - slope * sx) / n


def cluster_lines(x: np.ndarray, y: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's OLS (slope, intercept) of y on x, in `np.unique(clusters)` order."""
    return line_from_sums(cluster_sums(np.asarray(x, float), np.asarray(y, float), clusters))


def t_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, ...]:
    """(mean, low, high, standard error) of the mean of `values` over the last axis, the
    t-interval with k - 1 degrees of freedom (k = the last axis' length, at least 2)."""
    k = values.shape[-1]
    mean = values.mean(axis=-1)
    se = values.std(axis=-1, ddof=1) / np.sqrt(k)
    half = stats.t.ppf(0.5 + confidence / 2, k - 1) * se
    return mean, mean - half, mean + half, se


def tost_p(estimate: np.ndarray, se: np.ndarray, df: int, target: float, delta: float) -> np.ndarray:
    """TOST p-value of |b - target| < delta: the larger of the two one-sided t-test p-values
    against target - delta and target + delta (below alpha exactly when the (1 - 2 alpha)
    t-interval lies inside the margins)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        low = stats.t.sf((estimate - (target - delta)) / se, df)
        high = stats.t.sf(((target + delta) - estimate) / se, df)
    return np.maximum(low, high)


@dataclass(frozen=True)
class ExponentFit:
    """The exponent b of one group of runs: the mean of the clusters' slopes, its t-interval,
    and the TOST p-values against b = 1 and b = 0 from this fit."""

    b: float
    ci_low: float
    ci_high: float
    intercept: float
    n_runs: int
    n_widths: int
    n_clusters: int
    p_equiv_density: float
    p_equiv_null: float
    delta: float
    note: str = ""


def fit_exponent(
    total_weights: np.ndarray,
    core: np.ndarray,
    clusters: np.ndarray,
    delta: float = DELTA,
    confidence: float = CONFIDENCE,
) -> ExponentFit:
    """The slope of log(core) on log(total weights) as the mean of the clusters' OLS slopes,
    its t-interval and the equivalence tests against b = 1 and b = 0 (module docstring).

    `clusters` labels each run's seed cluster. A cluster run at one width has no slope and
    is left out (counted in `note`). Needs two clusters with a slope for an interval; with
    fewer the missing numbers are NaN and `note` says why.
    """
    x, y = np.log(np.asarray(total_weights, float)), np.log(np.asarray(core, float))
    clusters = np.asarray(clusters)
    n_widths = len(np.unique(x))
    nan = float("nan")
    if n_widths < 2:
        return ExponentFit(nan, nan, nan, nan, len(x), n_widths, 0, nan, nan, delta,
                           "needs runs at >= 2 widths")
    slopes, intercepts = cluster_lines(x, y, clusters)
    keep = np.isfinite(slopes)
    k = int(keep.sum())
    notes = [f"{int((~keep).sum())} cluster(s) run at one width only: no slope"] if (~keep).any() else []
    counts = {"n_runs": len(x), "n_widths": n_widths, "n_clusters": k, "delta": delta}
    if k < 2:
        b = float(np.mean(slopes[keep])) if k else nan
        a = float(np.mean(intercepts[keep])) if k else nan
        notes.append("one seed cluster: no interval (add data_seed or init_seed values)")
        return ExponentFit(b, nan, nan, a, **counts, p_equiv_density=nan, p_equiv_null=nan,
                           note="; ".join(notes))
    b, low, high, se = t_interval(slopes[keep], confidence)
    return ExponentFit(
        float(b), float(low), float(high), float(np.mean(intercepts[keep])), **counts,
        p_equiv_density=float(tost_p(b, se, k - 1, CONSTANT_DENSITY, delta)),
        p_equiv_null=float(tost_p(b, se, k - 1, NULL, delta)),
        note="; ".join(notes),
    )


def verdict(
    every_width: ExponentFit,
    uncapped: ExponentFit,
    alpha: float = ALPHA,
    min_clusters: int = MIN_CLUSTERS_FOR_VERDICT,
) -> str:
    """One verdict from the fit over every width (b = 1) and over the uncapped widths
    (b = 0): the hypothesis shown equivalent, neither, undecided, too few seeds, or untested."""
    if np.isnan(every_width.p_equiv_density):
        return UNTESTED
    k = every_width.n_clusters
    if np.isfinite(uncapped.b):
        k = min(k, uncapped.n_clusters)
    if k < min_clusters:
        return TOO_FEW.format(k=k)
    supported = [name for name, p in ((SUPPORTS_DENSITY, every_width.p_equiv_density),
                                      (SUPPORTS_NULL, uncapped.p_equiv_null)) if p < alpha]
    if supported:
        return " and ".join(supported)
    delta = every_width.delta
    far_from_one = every_width.ci_high < 1 - delta or every_width.ci_low > 1 + delta
    far_from_zero = uncapped.ci_high < -delta or uncapped.ci_low > delta
    return NEITHER if far_from_one and far_from_zero else UNDECIDED


def _init_name(init: str) -> str:
    return INIT_NAMES.get(init, init)


def exponent_table(
    runs: pd.DataFrame,
    measure: str = "magnitude ED at the run's threshold",
    delta: float = DELTA,
) -> pd.DataFrame:
    """The propensity exponent per model type and init (`FIT_COLUMNS`) from the runs'
    ``effective_density``, ``ed_last_pass`` and ``never_degraded``.

    b, ci_low, ci_high and p_equiv_density come from every width; b_uncapped, its interval
    and p_equiv_null from the uncapped widths (`uncapped_widths` lists them); ``entries``
    counts per width the runs that never degraded (left out), the zero-core runs (read at
    ``ed_last_pass``) and those without a core.
    """
    frame = core_frame(runs)
    rows = []
    for (model_type, init), group in frame.groupby(["model_type", "init"], sort=True):
        kept = group[group["core_size"].notna()]
        clusters, cluster_kind = seed_clusters(kept) if len(kept) else (np.array([]), "")
        every = fit_exponent(kept["total_weights"], kept["core_size"], clusters, delta)
        widths = uncapped_widths(group)
        inside = kept["width"].isin(widths).to_numpy()
        uncapped = fit_exponent(kept["total_weights"][inside], kept["core_size"][inside],
                                clusters[inside], delta)
        notes = [every.note] if every.note else []
        if len(widths) < 2:
            notes.append("b = 0 untested: fewer than 2 uncapped widths (a 1x run sizes the null core)")
        row = {
            "model_type": model_type, "init": _init_name(str(init)), "measure": measure,
            **{key: value for key, value in asdict(every).items() if key != "note"},
            "p_equiv_null": uncapped.p_equiv_null, "cluster": cluster_kind,
            "b_uncapped": uncapped.b, "ci_low_uncapped": uncapped.ci_low,
            "ci_high_uncapped": uncapped.ci_high,
            "uncapped_widths": ", ".join(width_label(w) for w in widths),
            "verdict": verdict(every, uncapped),
            "n_never_degraded": int(group["entry"].str.startswith("never degraded").sum()),
            "n_zero_core": int((group["entry"] == ZERO_CORE).sum()),
            "n_left_out": int(group["core_size"].isna().sum()),
            "entries": entry_counts(group), "note": "; ".join(notes),
        }
        rows.append(row)
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def _as_measure(runs: pd.DataFrame, columns: dict[str, pd.Series | None]) -> pd.DataFrame:
    """`runs` with its ED, last pass and never-degraded columns replaced by another measure's."""
    out = runs.copy()
    for name, values in columns.items():
        out[name] = values if values is not None else np.nan
    return out


def exponent_sensitivity(
    runs: pd.DataFrame, trajectories: pd.DataFrame | None, delta: float = DELTA
) -> pd.DataFrame:
    """The exponent again at every recorded threshold (``ed_<t>``: 1, 2, 5, 10 points) and for
    every pruning method the runs carry (``effective_density_<method>``), one table. Each row
    has its own never-degraded flags and zero-core readings: per threshold from the run's
    trajectory (`degradation_by_threshold`), per method from its ``never_degraded_<method>``
    and ``ed_last_pass_<method>``."""
    tables = []
    by_threshold = degradation_by_threshold(runs, trajectories, list(threshold_columns(runs)))
    for threshold, read in by_threshold.items():
        merged = runs[["run_key"]].merge(read, on="run_key", how="left")
        measured = _as_measure(runs, {c: merged[c].to_numpy() for c in
                                      ("effective_density", "ed_last_pass", "never_degraded")})
        tables.append(exponent_table(measured, f"{100 * threshold:g}-point threshold", delta))
    for method in methods_present(complete_runs(runs)):
        if (column := f"effective_density_{method}") not in runs.columns:
            continue
        measured = _as_measure(runs, {
            "effective_density": runs[column],
            "ed_last_pass": runs.get(f"ed_last_pass_{method}"),
            "never_degraded": runs.get(f"never_degraded_{method}"),
        })
        table = exponent_table(measured, f"{method} pruning", delta)
        if f"never_degraded_{method}" not in runs.columns:
            table["note"] = table["note"].map(lambda n: "; ".join(
                filter(None, [n, "never-degraded flags not recorded for this method"])))
        tables.append(table)
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=FIT_COLUMNS)


def where_it_lies(value: float, low: float, high: float) -> str:
    """Where `value` lies against the interval [low, high]: inside, below or above it, and
    "far" when it is more than the interval's own width away."""
    if low <= value <= high:
        return "inside the interval"
    gap = low - value if value < low else value - high
    side = "below" if value < low else "above"
    return f"{'far ' if gap > high - low else ''}{side} the interval"


def exponent_summary(fit: pd.Series) -> str:
    """The findings' sentences for one exponent row: b with its interval and counts, where 1
    and 0 lie against it (0 against the uncapped widths' fit), and the verdict."""
    if pd.isna(fit["b"]):
        return f"exponent not estimated ({fit['note']})."
    clusters = f"{fit['n_clusters']} seed clusters by {fit['cluster']}"
    if pd.isna(fit["ci_low"]):
        return (f"propensity exponent b = {fit['b']:.2f} from {fit['n_runs']} runs at "
                f"{fit['n_widths']} widths, {clusters}: no interval and no verdict ({fit['note']}).")
    text = (
        f"propensity exponent b = {fit['b']:.2f} (95% CI {fit['ci_low']:.2f} to "
        f"{fit['ci_high']:.2f}; t-interval over {clusters}) from {fit['n_runs']} runs at "
        f"{fit['n_widths']} widths. b = 1 (constant density) lies "
        f"{where_it_lies(1.0, fit['ci_low'], fit['ci_high'])}"
    )
    if pd.notna(fit["ci_low_uncapped"]):
        text += (
            f"; b = 0 (constant core), tested over the uncapped widths {fit['uncapped_widths']} "
            f"where b = {fit['b_uncapped']:.2f} (95% CI {fit['ci_low_uncapped']:.2f} to "
            f"{fit['ci_high_uncapped']:.2f}), lies "
            f"{where_it_lies(0.0, fit['ci_low_uncapped'], fit['ci_high_uncapped'])}."
        )
    else:
        text += f"; b = 0 untested (uncapped widths: {fit['uncapped_widths'] or 'none'})."
    said = fit["verdict"]
    if said.startswith("too few seeds"):
        said += f" (a verdict needs {MIN_CLUSTERS_FOR_VERDICT} clusters; the estimate and interval stand)"
    return f"{text} Verdict: {said}."


def local_exponents(runs: pd.DataFrame) -> pd.DataFrame:
    """Per model type, init and pair of adjacent widths: the slope between the two widths'
    mean log core size and mean log total weights, over the runs the exponent fits. One
    power law predicts the same slope for every pair; a trend across the pairs is curvature
    the single exponent averages away."""
    frame = core_frame(runs)
    frame = frame[frame["core_size"].notna()].assign(
        x=lambda f: np.log(f["total_weights"]), y=lambda f: np.log(f["core_size"])
    )
    columns = ["model_type", "init", "from_width", "to_width", "local_b", "n_from", "n_to"]
    rows = []
    for (model_type, init), group in frame.groupby(["model_type", "init"], sort=True):
        means = group.groupby("width").agg(x=("x", "mean"), y=("y", "mean"), n=("x", "size"))
        for (w1, a), (w2, c) in zip(means.iloc[:-1].iterrows(), means.iloc[1:].iterrows(), strict=True):
            slope = (c["y"] - a["y"]) / (c["x"] - a["x"]) if c["x"] != a["x"] else np.nan
            rows.append({"model_type": model_type, "init": _init_name(str(init)), "from_width": w1,
                         "to_width": w2, "local_b": slope, "n_from": int(a["n"]), "n_to": int(c["n"])})
    return pd.DataFrame(rows, columns=columns)

