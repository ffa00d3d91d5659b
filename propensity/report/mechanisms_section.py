"""Section 5 of the report: why density? Overlap (5.1), functional similarity (5.2), activations (5.3).

Like every part it only calls `propensity.analysis`, states the sample size beside every
number, and says in one line what is missing and which override produces it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from propensity.analysis import complete_runs
from propensity.analysis.activations import activation_table, summarize_activations
from propensity.analysis.model_types import width_label
from propensity.analysis.overlap import FRACTION, chance_overlap, format_markdown, overlap_frame
from propensity.analysis.overlap import overlap_table as overlap_by_width
from propensity.analysis.panels import panels, say
from propensity.analysis.similarity import (
    TSNE_MODELS,
    load_correctness_matrix,
    plot_tsne,
    tsne_embedding,
    tsne_subset,
    width_distance_table,
    within_across,
)
from propensity.mechanisms.artifacts import ARTIFACTS_DIR, CORRECTNESS, artifact_path
from propensity.report.parts import Part, Tables

ENABLE_ARTIFACTS = "artifacts.weights=true artifacts.correctness=true artifacts.activations=true"
PERMUTATIONS = 1000


def _overlap(done: pd.DataFrame, part: Part) -> None:
    frame = overlap_frame(done, FRACTION)
    part.add(f"### 5.1 Lowest {FRACTION:.0%} of weights at init and after training")
    if frame.empty:
        part.add("No weight artifacts: enable them with `artifacts.weights=true`.")
        return
    part.csvs["section5_overlap_runs"] = frame
    part.add(
        f"Tables 3 and 4: per layer, the share of the layer (%) among the lowest {FRACTION:.0%} "
        f"|w| both at initialisation and after training, mean over the runs of each width "
        f"(`runs`); the `chance` row is {100 * chance_overlap(FRACTION):.0f}%, the overlap of "
        "two independent masks. One table per model type and initialisation."
    )
    labels = done.set_index("run_key")["model_type"]
    frame = frame.assign(model_type=frame["run_key"].map(labels))
    tables = []
    for (model_type, init), group in frame.groupby(["model_type", "init"], sort=True):
        table = overlap_by_width(group.drop(columns="model_type"), FRACTION)
        part.add(f"**{model_type}, {init}** ({group['run_key'].nunique()} runs)")
        part.add(format_markdown(table).rstrip("\n"))
        tables.append(table.reset_index().assign(model_type=model_type, init=init))
    part.csvs["section5_overlap_tables"] = pd.concat(tables, ignore_index=True)


def _similarity(done: pd.DataFrame, figures_dir: Path, part: Part) -> None:
    part.add("### 5.2 Functional similarity of widths (correctness vectors)")
    groups, rows, width_tables = [], [], []
    with_vectors = done[[artifact_path(str(d), CORRECTNESS).is_file() for d in done["run_dir"]]]
    for (model_type, init), runs in with_vectors.groupby(["model_type", "init"], sort=True):
        one_seed = runs[runs["data_seed"] == runs["data_seed"].min()]
        correct, used = load_correctness_matrix(one_seed)
        groups.append((f"{model_type}, {init}", correct, used))
    if not groups:
        part.add("No correctness artifacts: enable them with `artifacts.correctness=true`.")
        return
    for title, correct, used in groups:
        widths = used["width"].astype(float).to_numpy()
        result = within_across(correct, widths, permutations=PERMUTATIONS)
        note = ""
        if np.isnan(result["difference"]):
            note = "needs >= 2 widths and >= 2 runs at some width"
            result["p_value"] = np.nan
        data_seed = int(used["data_seed"].iloc[0]) if "data_seed" in used else 0
        rows.append(
            {"group": title, "data_seed": data_seed, "widths": len(np.unique(widths)), **result, "note": note}
        )
        table = width_distance_table(correct, widths)
        table.columns = [width_label(w) for w in table.columns]
        width_tables.append(table.reset_index().assign(group=title))
    summary = pd.DataFrame(rows)
    part.csvs["section5_hamming_by_width"] = pd.concat(width_tables, ignore_index=True)
    part.add(
        "Mean pairwise Hamming distance (validation images classified differently) between "
        "models of equal width (within) and of different widths (across), on one data seed "
        "(the smallest) so all share a validation set. p_value: one-sided permutation test of "
        f"across - within > 0 over {PERMUTATIONS} relabellings of the widths. models: runs "
        "with a correctness vector; the data seed and the images (validation set size) are in the CSV."
    )
    part.table("section5_hamming", summary, hide=("data_seed", "images"))
    part.add(
        "Mean Hamming distance per pair of widths (diagonal: distinct models of that width):",
        *[t.drop(columns="group") for t in width_tables],
    )
    fig, axes = panels([title for title, _, _ in groups], tsne_title([t for t, _, _ in groups]))
    for ax, (title, correct, used) in zip(axes, groups, strict=True):
        if len(correct) < 3:
            say(ax, f"{len(correct)} model(s): t-SNE needs >= 3")
            continue
        shown = tsne_subset(used["width"].astype(float).to_numpy())
        plot_tsne(tsne_embedding(correct[shown]), used["width"].astype(float).iloc[shown], ax=ax)
        count = f"n={len(shown)}" if len(shown) == len(correct) else f"{len(shown)} of {len(correct)}"
        ax.set_title(f"{title} ({count})", fontsize=10)
    part.figure(
        fig,
        figures_dir,
        "fig7_8_tsne",
        f"{tsne_title([t for t, _, _ in groups])}: validation correctness vectors, coloured by "
        f"width (at most {TSNE_MODELS} models per panel, the same number per width; the distances "
        "above use all). The paper's Figure 7 shows MLP/SGD, its Figure 8 Conv-2/Adam.",
    )


def tsne_title(panel_titles: list[str]) -> str:
    """The t-SNE figure's title, naming what its panels show: the one group it has, or how many."""
    if len(panel_titles) == 1:
        return f"t-SNE of correctness, {panel_titles[0]} (as the paper's Figures 7 and 8)"
    return f"t-SNE of correctness, {len(panel_titles)} panels: one per model type and init"


def _activations(done: pd.DataFrame, part: Part) -> None:
    part.add("### 5.3 Activation sparsity and class selectivity")
    table = activation_table(done)
    if table.empty:
        part.add("No activation artifacts: enable them with `artifacts.activations=true`.")
        return
    summary = summarize_activations(table).sort_values(["model", "optim", "layer", "width"])
    part.csvs["section5_activations_runs"] = table
    part.add(
        "Per hidden layer, by width and optimizer, mean over runs (`runs`): Hoyer sparsity of "
        "each unit's activations over the validation set, class selectivity as section 5.3 "
        "states it (mu_max - mu_rest) and normalised as Morcos et al. (2018). Dead units (zero "
        "on every image) are counted in dead_fraction and left out of the means; the standard "
        "deviations are in the CSV."
    )
    columns = ["model", "optim", "layer", "width", "runs", "dead_fraction", "hoyer", "selectivity",
               "selectivity_normalized"]
    part.table("section5_activations", summary, columns=columns, hide=("optim",)
               if summary["optim"].nunique() == 1 else ("dead_fraction",))


def mechanisms_part(tables: Tables, figures_dir: Path) -> Part:
    """ "Why density? (section 5)": overlap tables, Hamming distances and t-SNE, activations."""
    part = Part("## Why density? (section 5)")
    done = complete_runs(tables.runs)
    if not has_artifacts(done):
        part.add(
            f"No section-5 artifacts in these {len(done)} runs; enable them with `{ENABLE_ARTIFACTS}`."
        )
        return part
    _overlap(done, part)
    _similarity(done, figures_dir, part)
    _activations(done, part)
    return part


def has_artifacts(runs: pd.DataFrame) -> bool:
    """Whether any of `runs` saved section-5 artifacts."""
    if "run_dir" not in runs.columns:
        return False
    return any((Path(str(d)) / ARTIFACTS_DIR).is_dir() for d in runs["run_dir"].dropna())
