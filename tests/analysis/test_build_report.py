"""`build_report` end to end on hand-made tables: Markdown, figures and CSVs, all consistent."""

import pandas as pd
import pytest

from propensity.analysis import ANOVA_MARK, table2
from propensity.report import FIGURES, build_report, markdown_table


@pytest.fixture(scope="module")
def report_dir(tables, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    build_report(tables, out, source="hand-made")
    return out


def test_report_has_every_table_and_figure(report_dir):
    text = (report_dir / "report.md").read_text()
    for heading in ("Table 1", "Table 2", "One-way ANOVA", "Pairing with the 1x twin"):
        assert heading in text
    assert f"MLP/SGD · digits {ANOVA_MARK}" in text
    assert "98 runs, 96 of them complete" in text
    for stem, _, _ in FIGURES:
        assert (report_dir / "figures" / f"{stem}.png").stat().st_size > 1000
        assert (report_dir / "figures" / f"{stem}.pdf").is_file()
        assert f"](figures/{stem}.png)" in text


def test_csv_tables_hold_the_analysis_numbers(report_dir, tables):
    saved = pd.read_csv(report_dir / "tables" / "table2.csv")
    expected = table2(tables.runs)
    assert saved["mean_ed"].to_numpy() == pytest.approx(expected["mean_ed"].to_numpy())
    assert saved["p_welch_holm"].to_numpy() == pytest.approx(
        expected["p_welch_holm"].to_numpy(), nan_ok=True
    )
    counts = pd.read_csv(report_dir / "tables" / "status_counts.csv")
    assert counts[["failed", "diverged"]].to_numpy().sum() == 2


def test_report_on_one_run_says_what_could_not_be_tested(degenerate, tmp_path):
    text = build_report(degenerate, tmp_path).read_text()
    assert "ANOVA needs >= 2" in text
    assert "1 run: no std" in text


def test_markdown_table_escapes_pipes_and_shows_missing_values():
    frame = pd.DataFrame({"a": ["x|y", None], "b": [1.5, float("nan")]})
    assert markdown_table(frame).splitlines() == [
        "| a | b |",
        "|---|---|",
        "| x\\|y | 1.5 |",
        "| n/a | n/a |",
    ]
