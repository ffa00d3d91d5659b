"""The report's issue-6 sections: pruning methods compared, and section 5's mechanism analyses.

Each ``*_part`` function returns a `Part`: the report's paragraphs and tables (a DataFrame
is rendered by `propensity.report.markdown_table`, a string is written as is), the CSVs to
save and the figures it has saved. Like the rest of the report it only calls
`propensity.analysis`, states the sample size beside every number, and says in one line
what is missing and which override produces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from propensity.analysis import complete_runs
from propensity.analysis.activations import activation_table, summarize_activations
from propensity.analysis.figures_layout import panels, say
from propensity.analysis.methods import (
    REFERENCE,
    ed_by_method,
    method_summary,
    methods_present,
    paired_differences,
    trajectories_by_method,
)
from propensity.analysis.model_types import width_label
from propensity.analysis.overlap import FRACTION, chance_overlap, format_markdown, overlap_frame
from propensity.analysis.overlap import overlap_table as overlap_by_width
from propensity.analysis.shared_grid import (
    shared_grid_differences,
    shared_grid_frame,
    shared_grid_summary,
)
from propensity.analysis.similarity import (
    load_correctness_matrix,
    plot_tsne,
    tsne_embedding,
    width_distance_table,
    within_across,
)
from propensity.artifacts import ARTIFACTS_DIR, CORRECTNESS, artifact_path

ENABLE_ARTIFACTS = "artifacts.weights=true artifacts.correctness=true artifacts.activations=true"
ENABLE_BASELINES = "pruning.baselines=[random,global_magnitude,edge_popup]"
PERMUTATIONS = 1000


@dataclass
class Part:
    """Paragraphs and tables of one report section, its CSVs and its saved figures."""

    sections: list[str | pd.DataFrame] = field(default_factory=list)
    csvs: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)

    def figure(self, fig: Figure, figures_dir: Path, stem: str, caption: str) -> None:
        """Save `fig` as png and pdf and add it, captioned, to the sections."""
        figures_dir.mkdir(parents=True, exist_ok=True)
        fig.savefig(figures_dir / f"{stem}.png", dpi=120)
        fig.savefig(figures_dir / f"{stem}.pdf")
        self.figures.append(stem)
        self.sections.append(
            f"#### {caption}\n\n![{caption}](figures/{stem}.png) ([pdf](figures/{stem}.pdf))"
        )


def methods_part(runs: pd.DataFrame, trajectories: pd.DataFrame, figures_dir: Path) -> Part:
    """ "Pruning methods": ED per method and width, and paired differences vs magnitude."""
    part = Part(["## Pruning methods"])
    methods = methods_present(complete_runs(runs))
    if len(methods) < 2:
        part.sections.append(
            f"Only {', '.join(methods) or 'no'} pruning was run; add the baselines with "
            f"`{ENABLE_BASELINES}` (edge-popup's cost is bounded by `pruning.edge_popup.*`)."
        )
        return part
    summary, paired = method_summary(runs), paired_differences(runs)
    part.csvs |= {"methods_summary": summary, "methods_paired": paired}
    part.sections += [
        f"Methods: {', '.join(methods)}. Every method prunes the same trained model of a run, "
        "at the run's threshold. n: runs with that method's ED. Random masks are averaged "
        "over `pruning.mask_seeds` per level; edge-popup's ED can only take the densities "
        "listed in `pruning.edge_popup.densities`, so it is coarser than the 2% steps.",
        summary,
        f"### Paired differences in ED against {REFERENCE} pruning",
        f"mean_diff = ED(method) - ED({REFERENCE}) over the runs pruned both ways (n_pairs); "
        "two-tailed paired t-test (`scipy.stats.ttest_rel`), 95% CI of the mean difference, "
        "p_holm adjusted over all rows. A positive difference: the method needs more weights.",
        paired,
        *_shared_grid(runs, trajectories, part),
    ]
    part.figure(
        ed_by_method(runs),
        figures_dir,
        "methods_ed_by_width",
        "Effective density by width, one marker per pruning method (mean +- std)",
    )
    for method, fig in trajectories_by_method(runs, trajectories).items():
        if method != REFERENCE:
            part.figure(
                fig,
                figures_dir,
                f"methods_trajectories_{method}",
                f"Pruning trajectories with {method} pruning, mean +- std",
            )
    return part


def _shared_grid(runs: pd.DataFrame, trajectories: pd.DataFrame, part: Part) -> list:
    """Every method's ED read on each run's shared grid (`propensity.analysis.shared_grid`)."""
    frame = shared_grid_frame(runs, trajectories)
    if frame.empty:
        return []
    summary, paired = shared_grid_summary(frame), shared_grid_differences(frame)
    part.csvs |= {"methods_shared_grid": summary, "methods_shared_grid_paired": paired}
    return [
        "### Methods on one grid of densities",
        "ED is the first failing density, so a coarser grid lowers it by itself. Here every "
        "method of a run is read at the densities of its coarsest trajectory (`grid`, "
        "edge-popup's when it ran) with the run's threshold; magnitude's accuracy there is "
        "edge-popup's starting mask (`source` exact) or the nearest level at or above each "
        "density (own). mean_fine_ed: the method's ED on its own grid, as above.",
        summary.drop(columns="grid"),
        f"Paired differences on the shared grid against {REFERENCE} (as above):",
        paired,
    ]


def _overlap(done: pd.DataFrame, part: Part) -> None:
    frame = overlap_frame(done, FRACTION)
    part.sections.append(f"### 5.1 Lowest {FRACTION:.0%} of weights at init and after training")
    if frame.empty:
        part.sections.append("No weight artifacts: enable them with `artifacts.weights=true`.")
        return
    part.csvs["section5_overlap_runs"] = frame
    part.sections.append(
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
        part.sections.append(f"**{model_type}, {init}** ({group['run_key'].nunique()} runs)")
        part.sections.append(format_markdown(table).rstrip("\n"))
        tables.append(table.reset_index().assign(model_type=model_type, init=init))
    part.csvs["section5_overlap_tables"] = pd.concat(tables, ignore_index=True)


def _similarity(done: pd.DataFrame, figures_dir: Path, part: Part) -> None:
    part.sections.append("### 5.2 Functional similarity of widths (correctness vectors)")
    groups, rows, width_tables = [], [], []
    with_vectors = done[[artifact_path(str(d), CORRECTNESS).is_file() for d in done["run_dir"]]]
    for (model_type, init), runs in with_vectors.groupby(["model_type", "init"], sort=True):
        one_seed = runs[runs["data_seed"] == runs["data_seed"].min()]
        correct, used = load_correctness_matrix(one_seed)
        groups.append((f"{model_type}, {init}", correct, used))
    if not groups:
        part.sections.append("No correctness artifacts: enable them with `artifacts.correctness=true`.")
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
    part.csvs |= {
        "section5_hamming": summary,
        "section5_hamming_by_width": pd.concat(width_tables, ignore_index=True),
    }
    part.sections += [
        "Mean pairwise Hamming distance (validation images classified differently) between "
        "models of equal width (within) and of different widths (across), on one data seed "
        "(the smallest) so all share a validation set. p_value: one-sided permutation test of "
        f"across - within > 0 over {PERMUTATIONS} relabellings of the widths. models: runs "
        "with a correctness vector; images: validation set size.",
        summary,
        "Mean Hamming distance per pair of widths (diagonal: distinct models of that width):",
        *[t.drop(columns="group") for t in width_tables],
    ]
    fig, axes = panels([title for title, _, _ in groups], "Figures 7 and 8: t-SNE of correctness")
    for ax, (title, correct, used) in zip(axes, groups, strict=True):
        if len(correct) < 3:
            say(ax, f"{len(correct)} model(s): t-SNE needs >= 3")
            continue
        plot_tsne(tsne_embedding(correct), used["width"].astype(float), ax=ax)
        ax.set_title(f"{title} (n={len(correct)})", fontsize=10)
    part.figure(
        fig,
        figures_dir,
        "fig7_8_tsne",
        "Figures 7 and 8: t-SNE of validation correctness vectors, coloured by width",
    )


def _activations(done: pd.DataFrame, part: Part) -> None:
    part.sections.append("### 5.3 Activation sparsity and class selectivity")
    table = activation_table(done)
    if table.empty:
        part.sections.append("No activation artifacts: enable them with `artifacts.activations=true`.")
        return
    summary = summarize_activations(table).sort_values(["model", "optim", "layer", "width"])
    part.csvs |= {"section5_activations_runs": table, "section5_activations": summary}
    columns = [
        "model",
        "optim",
        "layer",
        "width",
        "runs",
        "dead_fraction",
        "hoyer",
        "hoyer_std",
        "selectivity",
        "selectivity_std",
        "selectivity_normalized",
        "selectivity_normalized_std",
    ]
    part.sections += [
        "Per hidden layer, by width and optimizer, mean over runs (`runs`; std beside): Hoyer "
        "sparsity of each unit's activations over the validation set, class selectivity as "
        "section 5.3 states it (mu_max - mu_rest) and normalised as Morcos et al. (2018). "
        "Dead units (zero on every image) are counted in dead_fraction and left out of the means.",
        summary[[c for c in columns if c in summary.columns]],
    ]


def mechanisms_part(runs: pd.DataFrame, figures_dir: Path) -> Part:
    """ "Why density? (section 5)": overlap tables, Hamming distances and t-SNE, activations."""
    part = Part(["## Why density? (section 5)"])
    done = complete_runs(runs)
    if "run_dir" not in done.columns or not _any_artifacts(done):
        part.sections.append(
            f"No section-5 artifacts in these {len(done)} runs; enable them with `{ENABLE_ARTIFACTS}`."
        )
        return part
    _overlap(done, part)
    _similarity(done, figures_dir, part)
    _activations(done, part)
    return part


def _any_artifacts(runs: pd.DataFrame) -> bool:
    return any((Path(str(d)) / ARTIFACTS_DIR).is_dir() for d in runs["run_dir"].dropna())
