"""One shape per report section: tables at most eight columns wide, counts with separators, 200 dpi."""

import pandas as pd
from matplotlib.figure import Figure
from PIL import Image

from propensity.report.parts import FIGURE_DPI, MAX_COLUMNS, Part, markdown_table


def test_counts_get_thousands_separators_and_small_values_stay_short():
    frame = pd.DataFrame({"weights": [16190, 266610], "ed": [0.41234, 16190.4]})
    lines = markdown_table(frame).splitlines()
    assert lines[2] == "| 16,190 | 0.4123 |" and lines[3] == "| 266,610 | 16,190 |"


def test_a_wide_table_shows_eight_columns_and_links_the_full_csv():
    wide = pd.DataFrame([range(12)], columns=[f"c{i}" for i in range(12)])
    part = Part("## Section")
    part.table("wide", wide)
    shown, link = part.blocks
    assert list(shown.columns) == [f"c{i}" for i in range(MAX_COLUMNS)]
    assert link == "All 12 columns: [tables/wide.csv](tables/wide.csv)."
    assert part.csvs["wide"] is wide


def test_figures_are_saved_at_200_dpi_beside_a_pdf(tmp_path):
    fig = Figure(figsize=(3, 2))
    fig.subplots().plot([0, 1], [0, 1])
    part = Part("## Section")
    part.figure(fig, tmp_path, "line", "A line")
    assert FIGURE_DPI >= 200 and (tmp_path / "line.pdf").is_file()
    assert Image.open(tmp_path / "line.png").size == (3 * FIGURE_DPI, 2 * FIGURE_DPI)
    assert part.figures == ["line"] and "![A line](figures/line.png)" in part.render()
