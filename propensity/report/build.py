"""Assemble report.md from its parts: key findings, runs, then one part per paper section."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from propensity.analysis import anova_table, complete_runs, methods_present, status_counts, table2
from propensity.analysis.criteria import criteria_tests
from propensity.analysis.exponent import exponent_table
from propensity.analysis.run_selection import select_runs
from propensity.analysis.verdict import null_hypothesis_verdict
from propensity.report.density_section import density_part
from propensity.report.findings import findings_part, runs_part
from propensity.report.llc_section import llc_part
from propensity.report.mechanisms_section import has_artifacts, mechanisms_part
from propensity.report.methods_section import methods_part
from propensity.report.parts import Part, Tables
from propensity.report.regimes_section import regime_key_findings, regimes_part
from propensity.report.runs_section import run_accuracy_part
from propensity.report.training_section import training_part

# The paper's sections, in its order, then what goes beyond it; each is a function
# (tables, figures_dir) -> Part, or None for a part the results have nothing for.
SECTIONS = (training_part, density_part, methods_part, mechanisms_part, llc_part, regimes_part)


def build_report(
    tables: Tables,
    out_dir: str | Path,
    source: str = "",
    include_unconverged: bool = False,
    excluded: pd.DataFrame | None = None,
) -> Path:
    """Write report.md, figures/ and tables/ for `tables` into `out_dir`; return report.md.

    Every number in the report sits beside the sample size behind it, and every missing
    statistic beside the reason (see `propensity.analysis.table2`). Runs are chosen by
    `propensity.analysis.run_selection.select_runs` (unconverged runs only with
    `include_unconverged`); the ones left out are listed with their reason (`excluded`, if
    given, replaces that list: one row per run with at least run_key and reason).
    """
    out = Path(out_dir)
    tables_dir, figures_dir = out / "tables", out / "figures"
    tables_dir.mkdir(parents=True, exist_ok=True)
    problems = getattr(tables, "problems", [])
    selection = select_runs(
        tables.runs, include_unconverged, tables.trajectories, tables.histories, problems
    )
    runs = selection.kept
    exponents = exponent_table(runs)  # once: the findings and the density section quote it
    analysed = SimpleNamespace(
        runs=runs, trajectories=tables.trajectories, histories=tables.histories,
        selection=selection, exponents=exponents, regimes=getattr(tables, "regimes", None),
    )
    done = complete_runs(runs)
    t2 = table2(runs, selection=selection)
    verdicts = null_hypothesis_verdict(t2, anova_table(runs, selection=selection))
    criteria = criteria_tests(runs, selection)[1]
    findings = findings_part(runs, t2, verdicts, methods_present(done), has_artifacts(done),
                             exponents, criteria)
    findings.add(*regime_key_findings(analysed))
    listed = selection.excluded if excluded is None else excluded
    runs_section = runs_part(status_counts(tables.runs), listed, selection.note() if excluded is None else "")
    sections = (section(analysed, figures_dir) for section in SECTIONS)
    parts = [findings, runs_section, run_accuracy_part(tables.runs),
             *(part for part in sections if part is not None)]
    csvs = {name: frame for part in parts for name, frame in part.csvs.items()}
    for name, frame in csvs.items():
        frame.to_csv(tables_dir / f"{name}.csv", index=False)
    csv_list = Part("## Tables as CSV", ["\n".join(f"- [tables/{n}.csv](tables/{n}.csv)" for n in csvs)])
    text = "\n\n".join(
        [
            "# The propensity for density: report",
            f"Source: `{source or 'tables given in memory'}`. {len(tables.runs):,} runs, "
            f"{len(done):,} of them complete with an effective density (ED); only those enter "
            "the analysis.",
            *(part.render() for part in [*parts, csv_list]),
        ]
    )
    path = out / "report.md"
    path.write_text(text + "\n")
    return path
