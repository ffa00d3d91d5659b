"""Every table and figure of the paper's sections 3-5, from one results directory.

``python -m propensity.report RESULTS_DIR --out DIR`` loads the collected tables
(``runs.parquet`` etc., collecting them first if they are missing, or always with
``--collect``) and writes ``DIR/report.md``, ``DIR/figures/*.png`` and ``*.pdf``, and
``DIR/tables/*.csv``. Pruning methods compared and the section-5 mechanism analyses are
in `propensity.report_mechanisms`; they appear as far as the runs recorded baselines and
artifacts. The report only calls `propensity.analysis`; the notebooks call the
same functions, so the two never disagree.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

import pandas as pd
from matplotlib.figure import Figure

from propensity.analysis import (
    ANOVA_COLUMNS,
    anova_table,
    complete_runs,
    ed_by_init,
    ed_by_threshold,
    effective_density_kde,
    format_table2,
    observed_weight_counts,
    pair_with_reference,
    pairing_summary,
    pruning_trajectories,
    status_counts,
    table1,
    table2,
    unpruned_vs_null,
    validation_accuracy_curves,
    validation_loss_curves,
    weight_counts_by_width,
)
from propensity.analysis.run_selection import select_runs
from propensity.analysis.significance import STUDENT_CAVEAT
from propensity.analysis.table2 import MARKS_LEGEND, format_tests
from propensity.analysis.verdict import null_hypothesis_verdict
from propensity.report_mechanisms import mechanisms_part, methods_part


class Tables(Protocol):
    """What `propensity.collect.collect` / `load` return: the three collected tables."""

    runs: pd.DataFrame
    trajectories: pd.DataFrame
    histories: pd.DataFrame


# (file stem, caption, function of the tables); the order of the report.
FIGURES: list[tuple[str, str, Callable[[Any], Figure]]] = [
    (
        "fig1_val_accuracy",
        "Figure 1: validation accuracy per epoch, by width",
        lambda t: validation_accuracy_curves(t.runs, t.histories),
    ),
    (
        "fig2_val_loss",
        "Figure 2: validation loss per epoch; crosses mark where each run stopped",
        lambda t: validation_loss_curves(t.runs, t.histories),
    ),
    (
        "fig3_pruning_trajectories",
        "Figure 3: validation accuracy against density, mean +- std",
        lambda t: pruning_trajectories(t.runs, t.trajectories),
    ),
    (
        "fig4_ed_kde",
        "Figure 4: kernel density estimate of effective density per width",
        lambda t: effective_density_kde(t.runs),
    ),
    (
        "fig5_weight_counts",
        "Figure 5: total vs unpruned weights per width (log scale, +- std)",
        lambda t: weight_counts_by_width(t.runs),
    ),
    (
        "fig6_ed_by_init",
        "Figure 6: effective density by width, Glorot vs He",
        lambda t: ed_by_init(t.runs),
    ),
    (
        "extra_ed_by_threshold",
        "Beyond the paper: effective density against the threshold",
        lambda t: ed_by_threshold(t.runs),
    ),
    (
        "extra_unpruned_vs_null",
        "Beyond the paper: unpruned weights against the null hypothesis",
        lambda t: unpruned_vs_null(t.runs),
    ),
]


def markdown_table(frame: pd.DataFrame, floatfmt: str = "{:.4g}") -> str:
    """A GitHub-flavoured Markdown table (no extra dependency); NaN shows as 'n/a'."""
    if frame.empty:
        return "_(empty)_"

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "n/a" if pd.isna(value) else floatfmt.format(value)
        return "n/a" if value is None or value is pd.NA else str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |"]
    lines.append("|" + "---|" * len(frame.columns))
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join(lines)


def _save_figures(tables: Tables, figures_dir: Path) -> list[tuple[str, str]]:
    figures_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for stem, caption, draw in FIGURES:
        fig = draw(tables)
        fig.savefig(figures_dir / f"{stem}.png", dpi=120)
        fig.savefig(figures_dir / f"{stem}.pdf")
        saved.append((stem, caption))
    return saved


def build_report(
    tables: Tables, out_dir: str | Path, source: str = "", include_unconverged: bool = False
) -> Path:
    """Write report.md, figures/ and tables/ for `tables` into `out_dir`; return report.md.

    Every number in the report sits beside the sample size behind it, and every missing
    statistic beside the reason (see `propensity.analysis.table2`). Runs are chosen by
    `propensity.analysis.run_selection.select_runs` (unconverged runs only with
    `include_unconverged`); the ones left out are listed with their reason.
    """
    out = Path(out_dir)
    tables_dir = out / "tables"
    tables_dir.mkdir(parents=True, exist_ok=True)
    problems = getattr(tables, "problems", [])
    selection = select_runs(
        tables.runs, include_unconverged, tables.trajectories, tables.histories, problems
    )
    counts, n_runs = status_counts(tables.runs), len(tables.runs)
    runs = selection.kept
    tables = SimpleNamespace(runs=runs, trajectories=tables.trajectories, histories=tables.histories)
    done = complete_runs(runs)
    t1, observed_counts = table1(), observed_weight_counts(done)
    t2, anova = table2(runs, selection=selection), anova_table(runs, selection=selection)
    pairing = pairing_summary(pair_with_reference(runs)) if len(done) else pd.DataFrame()
    display = format_table2(t2, anova)
    verdicts = null_hypothesis_verdict(t2, anova)
    csvs = {
        "status_counts": counts,
        "excluded_runs": selection.excluded,
        "table1_weight_counts": t1,
        "observed_weight_counts": observed_counts,
        "table2": t2,
        "table2_display": display,
        "anova": anova,
        "pairing": pairing,
    }
    figures = _save_figures(tables, out / "figures")
    parts = [
        methods_part(runs, tables.trajectories, out / "figures"),
        mechanisms_part(runs, out / "figures"),
    ]
    for part in parts:
        csvs |= part.csvs
    for name, frame in csvs.items():
        frame.to_csv(tables_dir / f"{name}.csv", index=False)

    sections = [
        "# The propensity for density: report",
        f"Source: `{source or 'tables given in memory'}`. {n_runs} runs, "
        f"{len(done)} of them complete with an effective density (ED); only those enter the "
        "analysis.",
        "## Runs by model type and status",
        markdown_table(counts),
        "### Runs left out",
        selection.note(),
        *([markdown_table(selection.excluded)] if len(selection.excluded) else []),
        "## Table 1: prunable weights per model and width",
        "This project's count (`propensity.pruning.total_weights`, the denominator of every ED "
        "here) beside the paper's Table 1, on the paper's inputs (MLP: MNIST 1x28x28, Conv-2 "
        "and ResNet: CIFAR-10 3x32x32). MLP counts agree; the paper's Conv-2 and ResNet "
        "counts are larger (see `propensity.analysis.weight_counts`).",
        markdown_table(t1, "{:.3g}"),
        "Weights recorded by the runs analysed here (per model, data and width):",
        markdown_table(observed_counts),
        "## Table 2: observed vs null-hypothesis effective density (%)",
        f"{MARKS_LEGEND} The null ED pairs each run with the 1x run of the same model type, "
        "init, init seed and data seed, and is capped at 100% (section 4.2). n (obs / null): "
        "runs with an ED / runs whose 1x twin was found.",
        markdown_table(display),
        "### Verdict on the null hypothesis (uncapped widths only)",
        "\n".join(f"- **{v.model_type}**: {v.summary}" for v in verdicts) or "_(no runs)_",
        "### One-way ANOVA on unpruned weight counts, per model type",
        markdown_table(anova[ANOVA_COLUMNS] if len(anova) else anova),
        "### Tests of observed vs null ED, with 95% confidence intervals",
        "Welch's t-test where the null sample varies; a one-sample t-test against the constant "
        f"where it does not (no standardized effect size then). {STUDENT_CAVEAT}",
        markdown_table(format_tests(t2)),
        "### Pairing with the 1x twin",
        markdown_table(pairing),
        "## Figures",
        f"The figures show the runs analysed. {selection.note()}",
        *[
            f"### {caption}\n\n![{caption}](figures/{stem}.png) ([pdf](figures/{stem}.pdf))"
            for stem, caption in figures
        ],
        *[s if isinstance(s, str) else markdown_table(s) for part in parts for s in part.sections],
        "## Tables as CSV",
        "\n".join(f"- [tables/{name}.csv](tables/{name}.csv)" for name in csvs),
    ]
    path = out / "report.md"
    path.write_text("\n\n".join(sections) + "\n")
    return path


def load_tables(results_dir: str | Path, recollect: bool = False) -> Tables:
    """The collected tables of `results_dir`, collecting them first if missing (or asked to)."""
    from propensity.collect import collect, load

    results = Path(results_dir)
    if not results.is_dir():
        raise FileNotFoundError(f"results directory {results} does not exist")
    if recollect or not (results / "runs.parquet").is_file():
        return collect(results)
    return load(results)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m propensity.report RESULTS_DIR --out DIR``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m propensity.report", description=__doc__)
    parser.add_argument(
        "results_dir", help="a results directory (runs.parquet or record.json files)"
    )
    parser.add_argument(
        "--out", default=None, help="where to write the report (default RESULTS_DIR/report)"
    )
    parser.add_argument(
        "--collect", action="store_true", help="re-collect even if runs.parquet exists"
    )
    parser.add_argument(
        "--include-unconverged",
        action="store_true",
        help="also analyse runs that stopped at max_epochs before their stop target",
    )
    args = parser.parse_args(argv)
    try:
        tables = load_tables(args.results_dir, recollect=args.collect)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if tables.runs.empty:
        print(
            f"error: no runs found in {args.results_dir} (no record.json below it)", file=sys.stderr
        )
        return 2
    out = Path(args.out) if args.out else Path(args.results_dir) / "report"
    path = build_report(
        tables, out, source=str(args.results_dir), include_unconverged=args.include_unconverged
    )
    done = len(complete_runs(tables.runs))
    print(f"report: {path} ({len(tables.runs)} runs, {done} with an effective density)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
