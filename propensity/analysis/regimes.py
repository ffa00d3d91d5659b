"""Does retraining change the answer? The propensity exponent and Table 2 per retraining regime.

The paper measures ED without retraining (section 3.2). A run may also carry the ED of its
retrained branches (``ed_by_regime``: ``finetune``, ``imp`` and IMP's controls
``imp_reinit``, ``imp_random``; collected into ``regimes.parquet``). Irto, Goldt and
Sanguinetti (2023) find that IMP with retraining converges to a core of comparable size from
networks whose sizes span orders of magnitude: the paper's null hypothesis (b = 0) found
under retraining. So the question per regime is where its exponent b lies, and whether it
moved from b without retraining.

`regime_runs` puts a regime's ED, last pass, never-degraded flag and core size where the
paper's analysis reads them, so `propensity.analysis.exponent.exponent_table` and
`propensity.analysis.table2.table2` run on it unchanged: the same entry rules, clusters,
interval and verdict (with "too few seeds" below `MIN_CLUSTERS_FOR_VERDICT` clusters) as
without retraining. Only runs that carry regimes enter, so every regime is read on the same
trained models; ``none`` is a run's own ``none`` entry, else its own ED.

`exponent_shifts` compares each regime with ``none`` on the same runs: every seed cluster has
a slope under both, so the shift b(regime) - b(none) is the mean of the clusters' paired
differences, with the t-interval over them (the per-regime interval's construction applied
to the differences; its coverage is checked by simulation in
``tests/analysis/test_regimes.py``). Pairing removes what a cluster's slope shares across
regimes (its data split), so the shift's interval is narrower than two overlapping
per-regime intervals suggest. `regime_findings` words both, claiming only what they carry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from propensity.analysis.core_sizes import core_frame, seed_clusters
from propensity.analysis.exponent import (
    CONFIDENCE,
    DELTA,
    FIT_COLUMNS,
    MIN_CLUSTERS_FOR_VERDICT,
    SUPPORTS_DENSITY,
    SUPPORTS_NULL,
    cluster_lines,
    exponent_table,
    t_interval,
)
from propensity.analysis.model_types import INIT_NAMES, complete_runs, ordered
from propensity.analysis.run_selection import RunSelection
from propensity.analysis.table2 import CAPPED_MARK, T_TEST_MARK, anova_table, table2
from propensity.analysis.verdict import NullVerdict, null_hypothesis_verdict

NO_RETRAINING = "none"
# Display order: the paper's protocol, the two retraining regimes, then IMP's controls.
REGIME_ORDER = ("none", "finetune", "imp", "imp_reinit", "imp_random")
CONTROLS = ("imp_reinit", "imp_random")
# The columns of a runs table that the paper's analysis reads a measure from.
MEASURE_COLUMNS = ("effective_density", "ed_last_pass", "never_degraded", "unpruned_weights",
                   "matching_density")
SHIFT_COLUMNS = ["model_type", "init", "regime", "b_none", "b_regime", "shift", "ci_low",
                 "ci_high", "n_runs", "n_clusters", "cluster", "note"]


def regimes_present(regimes: pd.DataFrame | None) -> list[str]:
    """The regimes any run carries, in `REGIME_ORDER` (others after, by name); ``none``
    first whenever there are any, since a run without its entry is read at its own ED."""
    if regimes is None or regimes.empty:
        return []
    found = set(regimes["regime"].dropna().astype(str)) | {NO_RETRAINING}
    return sorted(found, key=lambda r: (REGIME_ORDER.index(r) if r in REGIME_ORDER else len(REGIME_ORDER), r))


def regime_runs(runs: pd.DataFrame, regimes: pd.DataFrame | None, regime: str) -> pd.DataFrame:
    """The runs that carry regimes, with `regime`'s `MEASURE_COLUMNS` in place of the run's
    own; runs without an ED under `regime` dropped. For ``none`` a run without a ``none``
    entry keeps its own ED (the same definition, read on the run's own pruning grid)."""
    if regimes is None or regimes.empty:
        return runs.iloc[0:0]
    carrying = runs[runs["run_key"].isin(regimes["run_key"])].copy()
    entries = regimes[regimes["regime"] == regime].drop_duplicates("run_key").set_index("run_key")
    has = carrying["run_key"].isin(entries.index).to_numpy()
    for column in MEASURE_COLUMNS:
        values = carrying["run_key"].map(entries[column]) if column in entries else np.nan
        values = pd.Series(values, index=carrying.index, dtype=object)
        if regime == NO_RETRAINING and column in carrying:
            values = values.where(has, carrying[column].astype(object))
        carrying[column] = pd.to_numeric(values, errors="coerce") if column != "never_degraded" \
            else values.astype("boolean")
    return carrying[carrying["effective_density"].notna()]


def regime_exponents(runs: pd.DataFrame, regimes: pd.DataFrame | None, delta: float = DELTA) -> pd.DataFrame:
    """`exponent_table` once per regime, each on `regime_runs`: ``regime`` then `FIT_COLUMNS`."""
    tables = [exponent_table(regime_runs(runs, regimes, r), f"ED under {r}", delta).assign(regime=r)
              for r in regimes_present(regimes)]
    tables = [t for t in tables if len(t)]
    columns = ["regime", *FIT_COLUMNS]
    return pd.concat(tables, ignore_index=True)[columns] if tables else pd.DataFrame(columns=columns)


def _shift_row(keys: dict, none: pd.DataFrame, other: pd.DataFrame, confidence: float) -> dict:
    both = none[["run_key", "total_weights", "init_seed", "data_seed", "core_size"]].merge(
        other[["run_key", "core_size"]], on="run_key", suffixes=("_none", "_regime")).dropna()
    row = {**keys, **dict.fromkeys(SHIFT_COLUMNS[3:9], np.nan), "n_runs": len(both),
           "n_clusters": 0, "cluster": "", "note": ""}
    if both.empty:
        return row | {"note": "no run with a core under both"}
    clusters, row["cluster"] = seed_clusters(both)
    x = np.log(both["total_weights"].to_numpy(float))
    slopes = {name: cluster_lines(x, np.log(both[f"core_size_{name}"].to_numpy(float)), clusters)[0]
              for name in ("none", "regime")}
    keep = np.isfinite(slopes["none"]) & np.isfinite(slopes["regime"])
    row["n_clusters"] = int(keep.sum())
    row["b_none"], row["b_regime"] = (float(np.mean(slopes[n][keep])) if keep.any() else np.nan
                                      for n in ("none", "regime"))
    if keep.sum() < 2:
        return row | {"note": "fewer than 2 seed clusters with a slope under both: no interval"}
    shift, low, high, _ = t_interval(slopes["regime"][keep] - slopes["none"][keep], confidence)
    return row | {"shift": float(shift), "ci_low": float(low), "ci_high": float(high)}


def exponent_shifts(
    runs: pd.DataFrame, regimes: pd.DataFrame | None, confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """Per model type, init and regime other than ``none``: b(regime) - b(none) over the runs
    with a core under both (`SHIFT_COLUMNS`), the mean of the seed clusters' paired slope
    differences and its t-interval with clusters - 1 degrees of freedom."""
    present = regimes_present(regimes)
    base = core_frame(regime_runs(runs, regimes, NO_RETRAINING))
    rows = []
    for regime in present[1:]:
        frame = core_frame(regime_runs(runs, regimes, regime))
        for (model_type, init), group in frame.groupby(["model_type", "init"], sort=True):
            none = base[(base["model_type"] == model_type) & (base["init"] == init)]
            keys = {"model_type": model_type, "init": INIT_NAMES.get(str(init), str(init)), "regime": regime}
            rows.append(_shift_row(keys, none, group, confidence))
    return pd.DataFrame(rows, columns=SHIFT_COLUMNS)


def regime_table2(
    runs: pd.DataFrame, regimes: pd.DataFrame | None, selection: RunSelection | None = None
) -> tuple[pd.DataFrame, list[tuple[str, NullVerdict]]]:
    """Table 2 (`table2`, Holm within each regime) and the null verdict once per regime:
    ``(rows with a regime column, [(regime, verdict)])``. `selection` (the report's) gives
    the unconverged counts beside each cell."""
    rows, verdicts = [], []
    for regime in regimes_present(regimes):
        these = regime_runs(runs, regimes, regime)
        chosen = None if selection is None else RunSelection(these, selection.excluded,
                                                             selection.include_unconverged)
        t2 = table2(these, selection=chosen)
        if t2.empty:
            continue
        rows.append(t2.assign(regime=regime))
        verdicts += [(regime, v) for v in null_hypothesis_verdict(t2, anova_table(these, selection=chosen))]
    return (pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()), verdicts


def _ed_cell(row: pd.Series) -> str:
    """One regime's Table 2 cell: ED % (mean ± sd) / null ED %, its mark, n runs."""
    ed = f"{100 * row['mean_ed']:.1f}" + ("" if pd.isna(row["std_ed"]) else f" ± {100 * row['std_ed']:.1f}")
    null = "n/a" if pd.isna(row["null_mean_ed"]) else f"{100 * row['null_mean_ed']:.1f}"
    mark = f" {CAPPED_MARK if row['null_capped'] else T_TEST_MARK}" if row["significant"] else ""
    return f"{ed} / {null}{mark} (n={row['n_runs']})"


def side_by_side(rows: pd.DataFrame) -> pd.DataFrame:
    """Table 2 per regime side by side: a row per model type and width, a column per regime
    holding ED % (mean ± sd) / null ED %, Table 2's mark (∗ uncapped, † capped: observed and
    null ED differ, p < 0.05 Holm within the regime) and the runs behind it."""
    if rows.empty:
        return pd.DataFrame()
    present = regimes_present(rows)
    out = []
    for model_type in ordered(rows["model_type"]):
        of_type = rows[rows["model_type"] == model_type]
        for width in sorted(of_type["width"].unique()):
            cell = of_type[of_type["width"] == width]
            entry = {"Model": model_type, "Size (x)": f"{width:g}"}
            for regime in present:
                found = cell[cell["regime"] == regime]
                entry[f"{regime}: ED / null ED %"] = _ed_cell(found.iloc[0]) if len(found) else "no runs"
            out.append(entry)
    return pd.DataFrame(out)


def _estimate(fit: pd.Series) -> str:
    if pd.isna(fit["ci_low"]):
        return f"{fit['b']:.2f} (no interval: {fit['note'] or 'one seed cluster'})"
    return f"{fit['b']:.2f} (95% CI {fit['ci_low']:.2f} to {fit['ci_high']:.2f})"


def _shift_words(regime: str, shift: pd.Series | None, b_none: float) -> str:
    if shift is None or pd.isna(shift["ci_low"]):
        return f" No paired shift: {shift['note'] if shift is not None else 'no runs under both'}."
    k, low, high = int(shift["n_clusters"]), shift["ci_low"], shift["ci_high"]
    text = (f" Paired over the {k} seed clusters both fits share ({shift['n_runs']} runs), "
            f"b({regime}) - b(none) = {shift['shift']:+.2f} (95% CI {low:+.2f} to {high:+.2f})")
    if k < MIN_CLUSTERS_FOR_VERDICT:
        return (text + f": too few seeds ({k}) for a verdict on whether {regime} moves b (a "
                f"verdict needs {MIN_CLUSTERS_FOR_VERDICT} clusters; the estimate and interval stand).")
    if low > 0 or high < 0:
        down = high < 0
        toward = " toward 0" if (b_none > 0) == down else " away from 0"
        return text + f": {regime} moves b {'down' if down else 'up'}{toward}."
    return (text + f": the interval holds 0, so these runs give no evidence that {regime} moves b "
            f"(shifts outside {low:+.2f} to {high:+.2f} are ruled out at 95%).")


def _verdict_words(regime: str, fit: pd.Series) -> str:
    said = f" Verdict under {regime}: {fit['verdict']}"
    if SUPPORTS_NULL in fit["verdict"]:
        said += (" (a constant core over the uncapped widths, as Irto, Goldt and Sanguinetti "
                 "2023 found under IMP)")
    elif SUPPORTS_DENSITY in fit["verdict"]:
        said += " (b stays within delta of 1, where the paper found it without retraining)"
    return said + "."


def regime_sentence(none: pd.Series, fit: pd.Series, shift: pd.Series | None) -> str:
    """Where b lies under one regime against b without retraining: both estimates, whether
    the intervals overlap, the paired shift and what it carries, and the regime's verdict."""
    regime = str(fit["regime"])
    name = f"{regime} (a control)" if regime in CONTROLS else regime
    if pd.isna(fit["b"]):
        return f"{name}: exponent not estimated ({fit['note']})."
    if pd.isna(none["b"]):
        return f"{name}: b = {_estimate(fit)}; without retraining not estimated ({none['note']})."
    text = f"{name}: b = {_estimate(fit)} against {_estimate(none)} without retraining"
    if pd.notna(fit["ci_low"]) and pd.notna(none["ci_low"]):
        if fit["ci_high"] < none["ci_low"]:
            text += f"; b under {regime} lies below the interval without retraining"
        elif fit["ci_low"] > none["ci_high"]:
            text += f"; b under {regime} lies above the interval without retraining"
        else:
            text += "; the intervals overlap"
    return text + "." + _shift_words(regime, shift, float(none["b"])) + _verdict_words(regime, fit)


def regime_findings(exponents: pd.DataFrame, shifts: pd.DataFrame) -> list[str]:
    """The key-findings lines on retraining, one per model type, init and regime other than
    ``none``: `regime_sentence` against ``none``; empty without regimes."""
    if exponents.empty:
        return []
    lines = []
    for (model_type, init), fits in exponents.groupby(["model_type", "init"], sort=True):
        none = fits[fits["regime"] == NO_RETRAINING]
        if none.empty:
            continue
        for _, fit in fits[fits["regime"] != NO_RETRAINING].iterrows():
            match = shifts[(shifts["model_type"] == model_type) & (shifts["init"] == init)
                           & (shifts["regime"] == fit["regime"])]
            sentence = regime_sentence(none.iloc[0], fit, match.iloc[0] if len(match) else None)
            lines.append(f"{model_type}, {init}, {sentence}")
    return lines


def regime_summary(runs: pd.DataFrame, regimes: pd.DataFrame | None) -> pd.DataFrame:
    """Per model type, width and regime: runs with an ED, mean ED, mean matching density
    (the lowest density within the threshold, the lottery-ticket literature's measure),
    mean core size and how many runs never degraded (their ED an upper bound)."""
    columns = ["model_type", "width", "regime", "n_runs", "mean_ed", "mean_matching_density",
               "mean_unpruned", "n_never_degraded"]
    frames = []
    for regime in regimes_present(regimes):
        these = complete_runs(regime_runs(runs, regimes, regime))
        frames.append(these.assign(regime=regime, unpruned_weights=these["unpruned_weights"].astype(float),
                                   never_degraded=these["never_degraded"].astype("boolean").fillna(False)))
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns)
    every = pd.concat(frames, ignore_index=True)
    every["order"] = every["regime"].map({r: i for i, r in enumerate(regimes_present(regimes))})
    grouped = every.groupby(["model_type", "width", "order", "regime"], sort=True)
    out = grouped.agg(n_runs=("run_key", "size"), mean_ed=("effective_density", "mean"),
                      mean_matching_density=("matching_density", "mean"),
                      mean_unpruned=("unpruned_weights", "mean"),
                      n_never_degraded=("never_degraded", "sum")).reset_index()
    return out[columns]
