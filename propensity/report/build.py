"""Assemble report.md from its parts: key findings, runs, then one part per paper section."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from propensity.analysis import anova_table, complete_runs, methods_present, status_counts, table2
from propensity.report.density_section import density_part
from propensity.report.findings import excluded_runs, findings_part, runs_part
from propensity.report.mechanisms_section import has_artifacts, mechanisms_part
from propensity.report.methods_section import methods_part
from propensity.report.parts import Part, Tables
from propensity.report.training_section import training_part

# The paper's sections, in its order; each is a function (tables, figures_dir) -> Part.
SECTIONS = (training_part, density_part, methods_part, mechanisms_part)


def build_report(
    tables: Tables, out_dir: str | Path, source: str = "", excluded: pd.DataFrame | None = None
) -> Path:
    """Write report.md, figures/ and tables/ for `tables` into `out_dir`; return report.md.

    Every number in the report sits beside the sample size behind it, and every missing
    statistic beside the reason (see `propensity.analysis.table2`). `excluded` lists the runs
    left out of the analysis (columns run_key, reason); by default every run without an ED,
    and the records the collector could not read (`excluded_runs`).
    """
    out = Path(out_dir)
    tables_dir, figures_dir = out / "tables", out / "figures"
    tables_dir.mkdir(parents=True, exist_ok=True)
    runs = tables.runs
    done = complete_runs(runs)
    if excluded is None:
        excluded = excluded_runs(runs, getattr(tables, "problems", ()))
    parts = [section(tables, figures_dir) for section in SECTIONS]
    findings = findings_part(
        runs, table2(runs), anova_table(runs), methods_present(done), has_artifacts(done)
    )
    parts = [findings, runs_part(runs, status_counts(runs), excluded), *parts]
    csvs = {name: frame for part in parts for name, frame in part.csvs.items()}
    for name, frame in csvs.items():
        frame.to_csv(tables_dir / f"{name}.csv", index=False)
    csv_list = Part("## Tables as CSV", ["\n".join(f"- [tables/{n}.csv](tables/{n}.csv)" for n in csvs)])
    text = "\n\n".join(
        [
            "# The propensity for density: report",
            f"Source: `{source or 'tables given in memory'}`. {len(runs):,} runs, {len(done):,} of "
            "them complete with an effective density (ED); only those enter the analysis.",
            *(part.render() for part in [*parts, csv_list]),
        ]
    )
    path = out / "report.md"
    path.write_text(text + "\n")
    return path
