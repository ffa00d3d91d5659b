"""Activation sparsity and class selectivity of hidden units (section 5.3).

A *unit* is a neuron of a dense layer or a channel of a convolutional layer; its activation
on one validation image is its post-ReLU output, averaged over spatial positions for a
channel (so a unit has one number per image, as in Park's dense-layer analysis). The
per-unit statistics are computed at the end of training by
:func:`propensity.mechanisms.artifacts.activation_statistics` and stored in ``activations.npz``; this
module holds the summary over runs; the definitions are in `propensity.mechanisms.unit_statistics`.

Dead units (zero on every validation image) have neither a Hoyer sparsity nor a normalised
selectivity (0/0). They are NaN by convention, excluded from the layer means, and counted
separately as ``dead_fraction``, so a layer with many dead units is visible rather than
silently scored as "sparse" or "dense".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from propensity.mechanisms.unit_statistics import (
    class_means,
    class_selectivity,
    class_selectivity_normalized,
    hoyer_from_norms,
    hoyer_sparsity,
)

__all__ = [
    "STATISTICS",
    "activation_table",
    "class_means",
    "class_selectivity",
    "class_selectivity_normalized",
    "hoyer_from_norms",
    "hoyer_sparsity",
    "layer_summary",
    "summarize_activations",
]

STATISTICS = ("hoyer", "selectivity", "selectivity_normalized")


def _layer_rows(stats: dict[str, dict[str, np.ndarray]]) -> list[dict[str, object]]:
    rows = []
    for layer, per_unit in stats.items():
        hoyer = np.asarray(per_unit["hoyer"], dtype=np.float64)
        alive = ~np.isnan(hoyer)
        row: dict[str, object] = {
            "layer": layer,
            "units": len(hoyer),
            "dead_fraction": float(1 - alive.mean()) if len(hoyer) else np.nan,
        }
        for name in STATISTICS:
            values = np.asarray(per_unit[name], dtype=np.float64)[alive]
            finite = values[~np.isnan(values)]
            row[name] = float(finite.mean()) if finite.size else np.nan
        rows.append(row)
    return rows


def layer_summary(stats: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per layer of one run: unit count, dead fraction and the mean of each statistic.

    Every mean skips dead units (NaN Hoyer), so it describes the units that do something.
    """
    return pd.DataFrame(_layer_rows(stats))


def activation_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per run and layer, the layer summary of its ``activations.npz`` (section 5.3).

    `runs` is the collected runs table; runs whose artifact is missing (artifacts were off,
    or the run did not finish) are skipped. Identity columns are carried along. The rows
    are gathered as records and framed once, not one frame per run.
    """
    from propensity.mechanisms.artifacts import ACTIVATIONS, artifact_path, load_activation_statistics

    identity = [
        c
        for c in ("run_key", "model", "optim", "init", "width", "init_seed", "data_seed")
        if c in runs.columns
    ]
    columns = [*identity, "layer", "units", "dead_fraction", *STATISTICS]
    rows = []
    for run in runs[[*identity, "run_dir"]].to_dict("records"):
        path = artifact_path(Path(run["run_dir"]), ACTIVATIONS)
        if not path.exists():
            continue
        keys = {c: run[c] for c in identity}
        stats = load_activation_statistics(path, STATISTICS)  # the class means are not needed
        rows.extend({**keys, **row} for row in _layer_rows(stats))
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows, columns=columns)
    return table.astype({c: runs[c].dtype for c in identity})


def summarize_activations(
    table: pd.DataFrame, by: tuple[str, ...] = ("model", "optim", "width")
) -> pd.DataFrame:
    """Mean and standard deviation over seeds of each layer's statistics, by width and optimizer.

    `table` is :func:`activation_table`'s output. This is the comparison Park (2022) makes and
    section 5.3 relates to effective density: does a wider layer have sparser, more selective
    units, and does that depend on the optimizer?
    """
    keys = [*[c for c in by if c in table.columns], "layer"]
    values = ["dead_fraction", *STATISTICS]
    grouped = table.groupby(keys, sort=True)[values]
    summary = grouped.mean().join(grouped.std().add_suffix("_std"))
    summary["runs"] = table.groupby(keys, sort=True).size()
    return summary.reset_index()
