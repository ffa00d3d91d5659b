"""``python -m propensity.report RESULTS_DIR --out DIR``: the report of one results directory."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from propensity.analysis import complete_runs
from propensity.report.build import build_report
from propensity.report.parts import Tables

DESCRIPTION = """Every table and figure of the paper's sections 3-5, from one results directory.

Loads the collected tables (runs.parquet etc., collecting them first if they are missing, or
always with --collect) and writes DIR/report.md, DIR/figures/*.png and *.pdf, and
DIR/tables/*.csv. A warning a library raises on the way goes to DIR/warnings.log, not the
console.
"""
WARNINGS_LOG = "warnings.log"


def load_tables(results_dir: str | Path, recollect: bool = False) -> Tables:
    """The collected tables of `results_dir`, collecting them first if missing (or asked to)."""
    from propensity.collect import collect, load

    results = Path(results_dir)
    if not results.is_dir():
        raise FileNotFoundError(f"results directory {results} does not exist")
    if recollect or not (results / "runs.parquet").is_file():
        return collect(results)
    return load(results)


def unwritable(out: Path) -> str | None:
    """Why the report cannot be written to `out`, or None: it must be, or be able to become,
    a folder this process can write in."""
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK):
        return f"cannot write in {existing}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m propensity.report RESULTS_DIR --out DIR``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m propensity.report", description=DESCRIPTION)
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
    out = Path(args.out) if args.out else Path(args.results_dir) / "report"
    problem = unwritable(out)
    if problem is not None:
        print(f"error: --out {out}: {problem}; point --out at a folder you can write", file=sys.stderr)
        return 2
    try:
        tables = load_tables(args.results_dir, recollect=args.collect)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a table cut short or not a table: the records can rebuild it
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"error: cannot read the collected tables of {args.results_dir} ({type(error).__name__}: "
              f"{reason}); rerun with --collect to rebuild them from the run records", file=sys.stderr)
        return 2
    if tables.runs.empty:
        print(
            f"error: no runs found in {args.results_dir} (no record.json below it)", file=sys.stderr
        )
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        path = build_report(
            tables, out, source=str(args.results_dir), include_unconverged=args.include_unconverged
        )
    done = len(complete_runs(tables.runs))
    logged = log_warnings(caught, out / WARNINGS_LOG)
    said = f"; {logged} library warning(s) in {out / WARNINGS_LOG}" if logged else ""
    print(f"report: {path} ({len(tables.runs)} runs, {done} with an effective density{said})")
    return 0


def log_warnings(caught: Sequence[warnings.WarningMessage], path: Path) -> int:
    """Write each distinct warning once to `path` (none: no file); return how many.

    The report's own figures and tables raise none; what a library says about unusual data
    (a test on identical values, a font without a glyph) stays readable in the file and off
    the console, which reports only the report's path."""
    lines = list(dict.fromkeys(
        f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught
    ))
    if lines:
        path.write_text("\n".join(lines) + "\n")
    else:
        path.unlink(missing_ok=True)  # an earlier report's log would speak for this one
    return len(lines)


