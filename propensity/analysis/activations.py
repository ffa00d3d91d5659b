"""Activation sparsity and class selectivity of hidden units (section 5.3).

A *unit* is a neuron of a dense layer or a channel of a convolutional layer; its activation
on one validation image is its post-ReLU output, averaged over spatial positions for a
channel (so a unit has one number per image, as in Park's dense-layer analysis). The
per-unit statistics are computed at the end of training by
:func:`propensity.artifacts.activation_statistics` and stored in ``activations.npz``; this
module holds the definitions and the summary over runs.

Dead units (zero on every validation image) have neither a Hoyer sparsity nor a normalised
selectivity (0/0). They are NaN by convention, excluded from the layer means, and counted
separately as ``dead_fraction``, so a layer with many dead units is visible rather than
silently scored as "sparse" or "dense".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

STATISTICS = ("hoyer", "selectivity", "selectivity_normalized")


def hoyer_from_norms(l1: np.ndarray, l2: np.ndarray, n: int) -> np.ndarray:
    """Hoyer (2004) sparsity (sqrt(n) - L1/L2) / (sqrt(n) - 1) from a vector's norms.

    `n` is the vector's length: here the number of validation images, each unit's
    activations over the validation set being one vector. 1 for a one-hot vector, 0 for a
    constant one, NaN for an all-zero one (see the module docstring). Taking norms lets the
    artifact code stream over batches instead of holding every activation.
    """
    if n < 2:
        raise ValueError(f"Hoyer sparsity needs vectors of length >= 2, got n={n}")
    l1 = np.asarray(l1, dtype=np.float64)
    l2 = np.asarray(l2, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(l2 > 0, l1 / l2, np.nan)
    root = np.sqrt(n)
    # Clip the rounding error of L1/L2 just outside [1, sqrt(n)].
    return np.clip((root - ratio) / (root - 1.0), 0.0, 1.0)


def hoyer_sparsity(activations: np.ndarray) -> np.ndarray:
    """Per-unit Hoyer sparsity of an (images x units) activation matrix (section 5.3)."""
    a = np.asarray(activations, dtype=np.float64)
    return hoyer_from_norms(np.abs(a).sum(axis=0), np.sqrt((a**2).sum(axis=0)), a.shape[0])


def class_means(activations: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(units x classes) mean activation of each unit over the images of each class.

    A class absent from `labels` has NaN means and is ignored by the selectivities.
    """
    a = np.asarray(activations, dtype=np.float64)
    labels = np.asarray(labels)
    sums = np.zeros((a.shape[1], num_classes))
    np.add.at(sums.T, labels, a)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums / np.where(counts > 0, counts, np.nan)


def _max_and_rest(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mu_max, the largest class mean, and mu_rest, the mean of the other classes' means."""
    means = np.asarray(means, dtype=np.float64)
    present = ~np.isnan(means)
    filled = np.where(present, means, -np.inf)
    top = filled.argmax(axis=1)
    mu_max = np.take_along_axis(filled, top[:, None], axis=1)[:, 0]
    others = present.copy()
    others[np.arange(len(means)), top] = False
    with np.errstate(divide="ignore", invalid="ignore"):
        mu_rest = np.where(others, means, 0.0).sum(axis=1) / others.sum(axis=1)
    return mu_max, mu_rest


def class_selectivity(means: np.ndarray) -> np.ndarray:
    """Per-unit selectivity as section 5.3 states it: mu_max - mu_rest.

    `means` is (units x classes); mu_rest averages the class means of all other classes.
    Unnormalised, it scales with the activation's magnitude; 0 for a dead unit.
    """
    mu_max, mu_rest = _max_and_rest(means)
    return mu_max - mu_rest


def class_selectivity_normalized(means: np.ndarray) -> np.ndarray:
    """Morcos et al.'s (2018) selectivity (mu_max - mu_rest) / (mu_max + mu_rest).

    In [0, 1] for ReLU units: 0 when every class has the same mean, 1 when one class alone
    activates the unit. NaN when mu_max + mu_rest == 0 (a dead unit; see module docstring).
    """
    mu_max, mu_rest = _max_and_rest(means)
    total = mu_max + mu_rest
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total != 0, (mu_max - mu_rest) / total, np.nan)


def layer_summary(stats: dict[str, dict[str, np.ndarray]]) -> pd.DataFrame:
    """One row per layer of one run: unit count, dead fraction and the mean of each statistic.

    Every mean skips dead units (NaN Hoyer), so it describes the units that do something.
    """
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
    return pd.DataFrame(rows)


def activation_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per run and layer, the layer summary of its ``activations.npz`` (section 5.3).

    `runs` is the collected runs table; runs whose artifact is missing (artifacts were off,
    or the run did not finish) are skipped. Identity columns are carried along.
    """
    from propensity.artifacts import ACTIVATIONS, artifact_path, load_activation_statistics

    identity = [
        c
        for c in ("run_key", "model", "optim", "init", "width", "init_seed", "data_seed")
        if c in runs.columns
    ]
    frames = []
    for _, run in runs.iterrows():
        path = artifact_path(Path(run["run_dir"]), ACTIVATIONS)
        if not path.exists():
            continue
        summary = layer_summary(load_activation_statistics(path))
        for column in reversed(identity):
            summary.insert(0, column, run[column])
        frames.append(summary)
    if not frames:
        return pd.DataFrame(columns=[*identity, "layer", "units", "dead_fraction", *STATISTICS])
    return pd.concat(frames, ignore_index=True)


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
    summary = grouped.mean().join(grouped.std(), rsuffix="_std")
    summary["runs"] = table.groupby(keys, sort=True).size()
    return summary.reset_index()
