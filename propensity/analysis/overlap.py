"""Do the weights small at initialisation stay small after training? (section 5.1)

Hypothesis 1 of section 5: if the lowest-|w| weights at initialisation were the ones that
stay small (and prunable) after training, the constant proportion of small initial weights
would explain a width-independent effective density. Per layer, we measure the fraction of
the layer's weights that are among the lowest `fraction` (40%) by magnitude both at
initialisation and after training. Two independent masks of 40% share 0.4 * 0.4 = 16% of
the layer by chance; Tables 3 and 4 compare the measured overlap with that line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch

FRACTION = 0.4
IDENTITY = ("run_key", "model", "optim", "init", "width", "init_seed", "data_seed")


def lowest_fraction_mask(weight: torch.Tensor, fraction: float = FRACTION) -> torch.Tensor:
    """True for the ``round(fraction * n)`` entries of smallest |w| (ties: index order).

    The same entries as the first ``round(fraction * n)`` of the pruning sweep's stable order
    (:func:`~propensity.pruning.masks.magnitude_order`), so "lowest 40%" here means the
    weights magnitude pruning would remove first; found by selection (`numpy.partition`, the
    k-th smallest |w|, then the ties at it in index order) rather than a full sort.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction={fraction} must be in [0, 1], e.g. 0.4")
    magnitude = weight.detach().cpu().reshape(-1).abs().numpy()
    k = round(fraction * magnitude.size)
    if k == 0:
        return torch.zeros(weight.shape, dtype=torch.bool)
    kth = np.partition(magnitude, k - 1)[k - 1]
    below = magnitude < kth
    ties = magnitude == kth
    mask = below | (ties & (np.cumsum(ties) <= k - int(below.sum())))
    return torch.from_numpy(mask).view(weight.shape)


def layer_overlap(initial: torch.Tensor, final: torch.Tensor, fraction: float = FRACTION) -> float:
    """Fraction of the layer in the lowest `fraction` both at init and after training (5.1)."""
    if initial.shape != final.shape:
        raise ValueError(f"shapes differ: init {tuple(initial.shape)}, final {tuple(final.shape)}")
    both = lowest_fraction_mask(initial, fraction) & lowest_fraction_mask(final, fraction)
    return both.sum().item() / initial.numel()


def layer_name(parameter: str) -> str:
    """A table column from a parameter name: ``fc1.weight`` -> ``fc1`` (Tables 3 and 4)."""
    return parameter.removesuffix(".weight")


def overlap_by_layer(
    initial: Mapping[str, torch.Tensor],
    final: Mapping[str, torch.Tensor],
    fraction: float = FRACTION,
) -> dict[str, float]:
    """Per layer, :func:`layer_overlap` of two sets of prunable weights with the same keys."""
    if list(initial) != list(final):
        raise ValueError(f"layers differ: init {list(initial)} vs final {list(final)}")
    return {layer_name(k): layer_overlap(initial[k], final[k], fraction) for k in initial}


def chance_overlap(fraction: float = FRACTION) -> float:
    """Expected overlap of two independent random masks of `fraction` each: fraction^2."""
    return fraction * fraction


def overlap_frame(runs: pd.DataFrame, fraction: float = FRACTION) -> pd.DataFrame:
    """One row per run and layer with the overlap (a fraction), from the runs' weight artifacts.

    `runs` is the collected runs table (``run_dir`` locates ``artifacts/``). Runs without
    both weight files (artifacts off, or the run never finished) are skipped.
    """
    from propensity.mechanisms.artifacts import WEIGHTS_FINAL, WEIGHTS_INIT, artifact_path, load_weights

    identity = [c for c in IDENTITY if c in runs.columns]
    rows = []
    for run in runs[[*identity, "run_dir"]].to_dict("records"):
        init_path = artifact_path(Path(run["run_dir"]), WEIGHTS_INIT)
        final_path = artifact_path(Path(run["run_dir"]), WEIGHTS_FINAL)
        if not (init_path.exists() and final_path.exists()):
            continue
        per_layer = overlap_by_layer(load_weights(init_path), load_weights(final_path), fraction)
        for layer, overlap in per_layer.items():
            rows.append({**{c: run[c] for c in identity}, "layer": layer, "overlap": overlap})
    return pd.DataFrame(rows, columns=[*identity, "layer", "overlap"])


def overlap_table(frame: pd.DataFrame, fraction: float = FRACTION) -> pd.DataFrame:
    """Tables 3 and 4: rows width, columns layers, mean overlap over seeds in percent.

    `frame` is :func:`overlap_frame`'s output for one regime (one model, optimizer and
    init, as each of the paper's tables is). A last row ``chance`` holds fraction^2 in
    percent, and a ``runs`` column the number of runs averaged per width.
    """
    regime = [c for c in ("model", "optim", "init") if c in frame.columns]
    if regime and len(frame[regime].drop_duplicates()) > 1:
        found = frame[regime].drop_duplicates().to_dict("records")
        raise ValueError(
            f"overlap_table wants one regime per table, got {found}; "
            "filter the runs (e.g. runs[runs.optim == 'adam']) first"
        )
    layers = list(dict.fromkeys(frame["layer"]))
    table = frame.pivot_table(index="width", columns="layer", values="overlap", aggfunc="mean")
    table = (100 * table[layers]).rename_axis(columns=None)
    table["runs"] = frame.groupby("width").size() / len(layers)
    chance = pd.DataFrame(
        [{**dict.fromkeys(layers, 100 * chance_overlap(fraction))}], index=["chance"]
    )
    table = pd.concat([table, chance])
    table.index.name = "width"
    return table


def format_markdown(table: pd.DataFrame, decimals: int = 1) -> str:
    """The table as GitHub markdown, numbers to `decimals` places, like the paper's tables."""
    header = [table.index.name or "", *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in table.iterrows():
        cells = [f"{index:g}" if isinstance(index, float) else str(index)]
        for column, value in row.items():
            if pd.isna(value):
                cells.append("")
            elif column == "runs":
                cells.append(f"{value:.0f}")
            else:
                cells.append(f"{value:.{decimals}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
