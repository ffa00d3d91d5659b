"""Which runs are compared with which: the paper's 'model types' and the runs that carry an ED.

Table 2 (section 4.2) groups runs by model type: architecture and training regime on one
task (MLP/SGD on MNIST, Conv-2/Adam and Conv-2/Adagrad and ResNet/SGD on CIFAR-10), pooling
initialisations and seeds. Everything in `propensity.analysis` groups by the `model_type`
label built here, so a table row and a figure panel always mean the same set of runs.
"""

from __future__ import annotations

import pandas as pd

from propensity.storage.records import COMPLETE

MODEL_NAMES = {"mlp": "MLP", "conv2": "Conv-2", "resnet": "ResNet", "vit": "ViT"}
OPTIM_NAMES = {"sgd": "SGD", "adam": "Adam", "adagrad": "Adagrad"}
INIT_NAMES = {"glorot": "Glorot", "he": "He"}

# Settings that must agree for two runs to belong to the same model type. When one of them
# takes several values within (model, optim, data), the label names it, so that, e.g., two
# learning rates never pool into one Table 2 row.
REGIME_COLUMNS: tuple[str, ...] = (
    "lr",
    "stop",
    "batch_size",
    "pruning_method",
    "schedule",
    "threshold",
    "threshold_mode",
)


def _base_label(model: str, optim: str, data: str) -> str:
    return f"{MODEL_NAMES.get(model, model)}/{OPTIM_NAMES.get(optim, optim)} · {data}"


def _format_value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def model_type_labels(runs: pd.DataFrame) -> pd.Series:
    """A readable model type per run, e.g. ``'MLP/SGD · mnist'`` (Table 2's 'Model' column).

    The regime settings in `REGIME_COLUMNS` that vary within one (model, optim, data) are
    appended (``'MLP/SGD · digits · lr=0.01'``), so a label never pools different regimes.
    """
    if runs.empty:
        return pd.Series([], index=runs.index, dtype=object, name="model_type")
    base = pd.Series(
        [_base_label(*key) for key in zip(runs["model"], runs["optim"], runs["data"], strict=True)],
        index=runs.index,
    )
    labels = base.copy()
    for _, members in runs.groupby(base, sort=False):
        varying = [
            c
            for c in REGIME_COLUMNS
            if c in members.columns and members[c].nunique(dropna=False) > 1
        ]
        for column in varying:
            labels.loc[members.index] += members[column].map(
                lambda v, c=column: f" · {c}={_format_value(v)}"
            )
    return labels.rename("model_type")


def complete_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that were trained to their stop rule and pruned, with an ED (section 3.2).

    Failed, diverged and still-running jobs carry no ED and are left out; `status_counts`
    reports how many, so the exclusion is never silent. A `model_type` column is added.
    """
    done = runs[runs["status"].isin(COMPLETE) & runs["effective_density"].notna()].copy()
    done["model_type"] = model_type_labels(done)
    return done


def status_counts(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs per model type and status, with how many of them carry an ED."""
    frame = runs.assign(model_type=model_type_labels(runs))
    counts = frame.pivot_table(
        index="model_type", columns="status", values="run_key", aggfunc="count", fill_value=0
    )
    counts.columns = [str(c) for c in counts.columns]
    counts["with_ed"] = complete_runs(runs).groupby("model_type").size()
    counts["with_ed"] = counts["with_ed"].fillna(0).astype(int)
    return counts.reset_index()


def width_label(width: float) -> str:
    """``0.5 -> '0.5x'``, the paper's 'Size (x)'."""
    return f"{width:g}x"


def ordered(values: pd.Series) -> list:
    """Sorted distinct values (widths, model types) in a stable display order."""
    return sorted(values.dropna().unique().tolist())
