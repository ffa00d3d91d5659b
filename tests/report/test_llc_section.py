"""The report's learning-coefficient part: invalid estimates counted, never averaged."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from propensity.report.llc_section import llc_part
from tests.analysis.synthetic import run_row
from tests.analysis.test_llc import llc_runs


def test_llc_part_tabulates_valid_estimates_and_draws_its_figures(tmp_path: Path) -> None:
    runs = llc_runs()
    part = llc_part(SimpleNamespace(runs=runs), tmp_path)
    text = part.render()
    assert "9 runs estimated the LLC" in text and "6 estimates are valid" in text
    assert part.csvs["llc_by_width"]["n"].tolist() == [2, 2, 2]
    assert set(part.figures) >= {"llc_by_width", "llc_vs_unpruned"}
    assert (tmp_path / "llc_by_width.png").is_file()


def test_llc_part_without_estimates_says_how_to_get_them(tmp_path: Path) -> None:
    runs = pd.DataFrame([run_row(run_key="plain", width=1.0)])
    text = llc_part(SimpleNamespace(runs=runs), tmp_path).render()
    assert "llc=sgld" in text and "propensity[llc]" in text
