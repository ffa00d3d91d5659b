"""The propensity exponent: how the core size grows with the model (section 4.2).

The paper's null hypothesis (section 4.2) is that the core size |omega| = ED x |theta| does
not change with width; its finding is that ED is "relatively stable" instead. Both are power
laws, |omega| ~ |theta|^b, so one regression measures the contrast directly: regress
log(core size) on log(total weights) over every complete run at every width, nothing capped.

- b = 0 is the null hypothesis: the core does not grow;
- b = 1 is constant density: the core grows in proportion to the model.

The interval is a cluster bootstrap with the seed as the unit: runs that share an init seed
and a data seed (one seed pair, run at every width) are drawn together, so whatever a seed
shares across widths (its data split, its draw of the data order) is not counted as
independent evidence. It is written by hand rather than with `scipy.stats.bootstrap`, which
resamples observations, not clusters: each resample draws k of the k seed clusters with
replacement, and its line is refitted from the drawn clusters' sums of (1, x, y, x^2, xy),
so it is exactly the OLS line of the runs drawn, slope and intercept together (the
figure's band needs both). The interval is the percentile interval, not BCa:
BCa's acceleration comes from a jackknife over as few as three seeds, which is unstable, and
the percentile interval is the one whose tails the equivalence tests below read, so interval
and test cannot disagree. A resample that draws one width only has no slope; it is left out
and counted in the note.

Equivalence (TOST): "b is within +-delta of 1" and "b is within +-delta of 0", each two
one-sided tests whose p-values are the bootstrap tail shares beyond target -+ delta (with
the +1 correction). Equivalence at alpha = 0.05 is the 90% percentile interval inside
(target - delta, target + delta). delta = 0.1 by default: a tenth of the distance between
the two hypotheses, so an exponent shown within it of one hypothesis is far from the
other; over the paper's MLP widths (0.1x to 2x, 25 times the weights) a departure of 0.1
moves the core size by a factor 25^0.1 = 1.38: the largest drift the verdict may still
call equivalent. It is reported beside every verdict and set by `delta`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from propensity.analysis.density import threshold_columns
from propensity.analysis.methods import methods_present
from propensity.analysis.model_types import INIT_NAMES, complete_runs

DELTA = 0.1
ALPHA = 0.05
CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 0
# Resamples drawn at once.
CHUNK = 1000
# A run's seed cluster: the seeds it shares with its twins at the other widths.
SEED_KEYS: tuple[str, ...] = ("init_seed", "data_seed")
# The hypotheses the verdict names, by their exponent.
NULL, CONSTANT_DENSITY = 0.0, 1.0
SUPPORTS_DENSITY = "constant density (b = 1)"
SUPPORTS_NULL = "constant core, the null hypothesis (b = 0)"
NEITHER = "neither"
UNTESTED = "untested"
# Below this many seed clusters a bootstrap interval is narrower than it should be.
FEW_SEEDS = 10

FIT_COLUMNS = [
    "model_type", "init", "measure", "b", "ci_low", "ci_high", "intercept", "n_runs",
    "n_widths", "n_seeds", "n_left_out", "p_equiv_density", "p_equiv_null", "delta",
    "verdict", "note",
]


def core_size(effective_density: pd.Series, total_weights: pd.Series) -> pd.Series:
    """|omega| = ED x |theta| (section 4.2): the weights a run keeps at its effective density."""
    return effective_density.astype(float) * total_weights.astype(float)


def ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line of y on x (`scipy.stats.linregress`)."""
    fit = stats.linregress(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return float(fit.slope), float(fit.intercept)


def cluster_sums(x: np.ndarray, y: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """(clusters x 5) per-cluster sums of 1, x, y, x^2 and xy: all an OLS slope needs."""
    _, index = np.unique(clusters, return_inverse=True)
    terms = np.column_stack([np.ones_like(x), x, y, x * x, x * y])
    sums = np.zeros((index.max() + 1, 5))
    np.add.at(sums, index, terms)
    return sums


def line_from_sums(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(slope, intercept) of the OLS line from summed (n, Sx, Sy, Sxx, Sxy) on the last axis;
    NaN where x does not vary (a resample that drew one width)."""
    n, sx, sy, sxx, sxy = np.moveaxis(sums, -1, 0)
    sxx_c = sxx - sx * sx / n
    with np.errstate(divide="ignore", invalid="ignore"):
        # centred x spread at float-noise level: one width only
        slope = np.where(sxx_c > 1e-9 * sxx, (sxy - sx * sy / n) / sxx_c, np.nan)
    return slope, (sy - slope * sx) / n


def bootstrap_lines(
    x: np.ndarray, y: np.ndarray, seeds: np.ndarray, resamples: int = RESAMPLES, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """`resamples` (slope, intercept) pairs, each the OLS line of one draw of the seed clusters
    with replacement (`seed` fixes the draws)."""
    sums = cluster_sums(np.asarray(x, dtype=float), np.asarray(y, dtype=float), seeds)
    k, rng = len(sums), np.random.default_rng(seed)
    drawn = []
    for start in range(0, resamples, CHUNK):  # bounded memory: CHUNK x clusters at a time
        size = min(CHUNK, resamples - start)
        picks = rng.integers(0, k, size=(size, k))  # each row: k clusters drawn with replacement
        offsets = (np.arange(size) * k)[:, None]
        counts = np.bincount((picks + offsets).ravel(), minlength=size * k).reshape(size, k)
        drawn.append(counts @ sums)
    return line_from_sums(np.concatenate(drawn) if drawn else np.zeros((0, 5)))


@dataclass(frozen=True)
class ExponentFit:
    """The exponent b of one group of runs, its interval and the two equivalence tests."""

    b: float
    ci_low: float
    ci_high: float
    intercept: float
    n_runs: int
    n_widths: int
    n_seeds: int
    p_equiv_density: float
    p_equiv_null: float
    delta: float
    verdict: str
    note: str = ""


def tost_p(slopes: np.ndarray, target: float, delta: float) -> float:
    """TOST p-value of |b - target| < delta from bootstrap slopes: the larger of the two
    one-sided tail shares (slopes <= target - delta, slopes >= target + delta), +1-corrected."""
    slopes = slopes[np.isfinite(slopes)]
    if not slopes.size:
        return np.nan
    low = (1 + np.sum(slopes <= target - delta)) / (slopes.size + 1)
    high = (1 + np.sum(slopes >= target + delta)) / (slopes.size + 1)
    return float(max(low, high))


def verdict(p_density: float, p_null: float, alpha: float = ALPHA) -> str:
    """Which hypothesis the equivalence tests support: b = 1, b = 0, neither, or untested."""
    if np.isnan(p_density) or np.isnan(p_null):
        return UNTESTED
    supported = [name for name, p in ((SUPPORTS_DENSITY, p_density), (SUPPORTS_NULL, p_null)) if p < alpha]
    return " and ".join(supported) or NEITHER


def fit_exponent(
    total_weights: np.ndarray,
    core: np.ndarray,
    seeds: np.ndarray,
    delta: float = DELTA,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> ExponentFit:
    """The slope of log(core) on log(total weights), its seed-cluster bootstrap interval and
    the equivalence tests against b = 1 and b = 0 (see the module docstring).

    `seeds` labels each run's seed cluster (any hashable per run). Needs two widths (two
    distinct totals) for a slope and two seed clusters for an interval; with fewer the
    missing numbers are NaN and `note` says why.
    """
    x, y = np.log(np.asarray(total_weights, dtype=float)), np.log(np.asarray(core, dtype=float))
    seeds = np.asarray(seeds)
    n_widths, n_seeds = len(np.unique(x)), len(np.unique(seeds)) if len(seeds) else 0
    counts = {"n_runs": len(x), "n_widths": n_widths, "n_seeds": n_seeds, "delta": delta}
    if n_widths < 2:
        return ExponentFit(np.nan, np.nan, np.nan, np.nan, **counts, p_equiv_density=np.nan,
                           p_equiv_null=np.nan, verdict=UNTESTED, note="needs runs at >= 2 widths")
    b, intercept = ols(x, y)
    if n_seeds < 2:
        return ExponentFit(b, np.nan, np.nan, intercept, **counts, p_equiv_density=np.nan,
                           p_equiv_null=np.nan, verdict=UNTESTED,
                           note="one seed: no bootstrap interval (add init_seed or data_seed values)")
    slopes, _ = bootstrap_lines(x, y, seeds, resamples, seed)
    tail = (1 - confidence) / 2
    finite = slopes[np.isfinite(slopes)]
    low, high = np.quantile(finite, [tail, 1 - tail]) if finite.size else (np.nan, np.nan)
    notes = []
    if n_seeds < FEW_SEEDS:
        notes.append(f"{n_seeds} seeds: a bootstrap over so few clusters runs narrow")
    if (dropped := int(np.sum(~np.isfinite(slopes)))) > 0:
        notes.append(f"{dropped} resamples drew a single width and are left out")
    p_density = tost_p(slopes, CONSTANT_DENSITY, delta)
    p_null = tost_p(slopes, NULL, delta)
    return ExponentFit(
        b, float(low), float(high), intercept, **counts, p_equiv_density=p_density,
        p_equiv_null=p_null, verdict=verdict(p_density, p_null), note="; ".join(notes),
    )


def core_frame(runs: pd.DataFrame, ed_column: str = "effective_density") -> pd.DataFrame:
    """One row per complete run: its model type, init, width, seed cluster and core size
    (`ed_column` x total weights). Columns: run_key, model_type, init, width, seeds,
    total_weights, core_size, never_degraded (ED 100%: the core is censored at the total)."""
    done = complete_runs(runs)
    columns = ["run_key", "model_type", "init", "width", "seeds", "total_weights", "core_size",
               "never_degraded"]
    if done.empty or ed_column not in done.columns:
        return pd.DataFrame(columns=columns)
    seeds = done[SEED_KEYS[0]].astype("Int64").astype(str)
    for key in SEED_KEYS[1:]:
        seeds = seeds + "/" + done[key].astype("Int64").astype(str)
    frame = done.assign(
        seeds=seeds,
        total_weights=done["total_weights"].astype(float),
        core_size=core_size(done[ed_column], done["total_weights"]),
        width=done["width"].astype(float),
        never_degraded=done.get("never_degraded", pd.Series(False, index=done.index)),
    )
    return frame[columns].reset_index(drop=True)


def _init_name(init: str) -> str:
    return INIT_NAMES.get(init, init)


def exponent_table(
    runs: pd.DataFrame,
    ed_column: str = "effective_density",
    measure: str = "magnitude ED at the run's threshold",
    delta: float = DELTA,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> pd.DataFrame:
    """The propensity exponent per model type and init (`FIT_COLUMNS`), from `ed_column`.

    Runs whose core size is missing or zero (no log) are left out and counted in
    ``n_left_out``; everything else enters at every width, nothing capped.
    """
    frame = core_frame(runs, ed_column)
    rows = []
    for (model_type, init), group in frame.groupby(["model_type", "init"], sort=True):
        usable = group["core_size"].gt(0) & group["total_weights"].gt(0)
        kept = group[usable]
        fit = fit_exponent(kept["total_weights"], kept["core_size"], kept["seeds"].to_numpy(),
                           delta=delta, resamples=resamples, seed=seed)
        row = {"model_type": model_type, "init": _init_name(str(init)), "measure": measure,
               **asdict(fit), "n_left_out": int((~usable).sum())}
        if censored := int(group["never_degraded"].fillna(False).astype(bool).sum()):
            # ED 100% where accuracy never dropped: the core is at least the model, not known
            said = f"{censored} run(s) never degraded: core censored at the total, pulls b to 1"
            row["note"] = f"{row['note']}; {said}" if row["note"] else said
        rows.append(row)
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def exponent_sensitivity(
    runs: pd.DataFrame, delta: float = DELTA, resamples: int = RESAMPLES, seed: int = SEED
) -> pd.DataFrame:
    """The exponent again at every recorded threshold (``ed_<t>``: 1, 2, 5, 10 points) and for
    every pruning method the runs carry (``effective_density_<method>``), one table."""
    tables = []
    for threshold, column in threshold_columns(runs).items():
        tables.append(exponent_table(runs, column, f"{100 * threshold:g}-point threshold",
                                     delta, resamples, seed))
    for method in methods_present(complete_runs(runs)):
        column = f"effective_density_{method}"
        if column in runs.columns:
            tables.append(exponent_table(runs, column, f"{method} pruning", delta, resamples, seed))
    tables = [t for t in tables if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=FIT_COLUMNS)


def exponent_summary(fit: pd.Series) -> str:
    """One sentence per exponent row: b, its interval, the counts and the verdict."""
    if pd.isna(fit["b"]):
        return f"exponent not estimated ({fit['note']})."
    interval = (
        f" (95% CI {fit['ci_low']:.2f} to {fit['ci_high']:.2f}, seed-cluster bootstrap)"
        if pd.notna(fit["ci_low"]) else ""
    )
    tost = (
        f"; TOST with delta = {fit['delta']:g}: p = {_p(fit['p_equiv_density'])} for b = 1, "
        f"p = {_p(fit['p_equiv_null'])} for b = 0; supported: {fit['verdict']}"
        if pd.notna(fit["p_equiv_density"]) else f"; no equivalence test ({fit['note']})"
    )
    note = f" ({fit['note']})" if fit["note"] and pd.notna(fit["p_equiv_density"]) else ""
    return (
        f"propensity exponent b = {fit['b']:.2f}{interval} from {fit['n_runs']} runs at "
        f"{fit['n_widths']} widths and {fit['n_seeds']} seeds{tost}{note}."
    )


def _p(p: float) -> str:
    return "n/a" if pd.isna(p) else ("< 0.0001" if p < 1e-4 else f"{p:.2g}")


def local_exponents(runs: pd.DataFrame, ed_column: str = "effective_density") -> pd.DataFrame:
    """Per model type, init and pair of adjacent widths: the slope between the two widths'
    mean log core size and mean log total weights. One power law predicts the same slope for
    every pair; a trend across the pairs is curvature the single exponent averages away."""
    frame = core_frame(runs, ed_column)
    frame = frame[frame["core_size"].gt(0)].assign(
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
