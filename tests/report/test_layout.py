"""Every figure of the report stays legible at the runs, widths and methods it holds.

The report is rendered for results shaped like ``experiment=quickstart`` (4 widths x 3
seeds, 4 pruning methods) and ``experiment=criteria`` (the same runs, every registered
method), and each figure is checked after matplotlib's layout has run: no visible axes
narrower or shorter than `MIN_AXES_PX`, no legend and no title outside the figure, and no
warning (matplotlib warns when constrained layout gives up because axes collapsed).
"""

import warnings

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from propensity.report import build_report
from propensity.report import parts as report_parts
from tests.analysis.synthetic import criteria_tables, quickstart_tables

# At the figures' own dpi (100): about an inch, the least a panel needs for ticks and data.
MIN_AXES_PX = 90
SLACK_PX = 1.0

matplotlib.use("Agg")


def layout_problems(fig: Figure, stem: str) -> list[str]:
    """What is illegible in `fig` once drawn: collapsed axes, a legend or title off the canvas."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    page = fig.bbox
    problems = []
    for index, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        box = ax.get_window_extent(renderer)
        if box.width < MIN_AXES_PX or box.height < MIN_AXES_PX:
            problems.append(f"{stem}: axes {index} is {box.width:.0f} x {box.height:.0f} px")
        legend = ax.get_legend()
        artists = [legend] if legend is not None else []
        artists += [t for t in (ax.title,) if t.get_text()]
        for artist in artists:
            outer = artist.get_window_extent(renderer)
            if (outer.x0 < page.x0 - SLACK_PX or outer.y0 < page.y0 - SLACK_PX
                    or outer.x1 > page.x1 + SLACK_PX or outer.y1 > page.y1 + SLACK_PX):
                problems.append(f"{stem}: {type(artist).__name__} of axes {index} leaves the figure")
    for artist in [*fig.legends, *([fig._suptitle] if fig._suptitle is not None else [])]:
        outer = artist.get_window_extent(renderer)
        if not (outer.x0 >= -SLACK_PX and outer.y0 >= -SLACK_PX
                and outer.x1 <= page.x1 + SLACK_PX and outer.y1 <= page.y1 + SLACK_PX):
            problems.append(f"{stem}: figure {type(artist).__name__} leaves the figure")
    return problems


def _render(tables, out, monkeypatch) -> tuple[dict[str, Figure], list[str]]:
    saved: dict[str, Figure] = {}
    real = report_parts.save_figure

    def keep(fig, figures_dir, stem):
        saved[stem] = fig
        real(fig, figures_dir, stem)

    monkeypatch.setattr(report_parts, "save_figure", keep)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_report(tables, out)
    return saved, [f"{w.category.__name__}: {w.message}" for w in caught]


@pytest.mark.parametrize("shape", ["quickstart", pytest.param("criteria", marks=pytest.mark.slow)])
def test_no_figure_collapses_or_overflows_and_nothing_warns(shape, tmp_path, monkeypatch):
    tables = quickstart_tables() if shape == "quickstart" else criteria_tables()
    figures, warned = _render(tables, tmp_path, monkeypatch)
    assert warned == []
    assert {"fig3_pruning_trajectories", "fig4_ed_kde", "fig5_weight_counts",
            "methods_ed_by_width"} <= set(figures)
    problems = [p for stem, fig in figures.items() for p in layout_problems(fig, stem)]
    assert problems == []
    if shape == "criteria":
        facets = [ax for ax in figures["methods_ed_by_width"].axes if ax.get_visible()]
        methods = [c.removeprefix("effective_density_") for c in tables.runs
                   if c.startswith("effective_density_")]
        assert len(facets) == len(methods) - 1 > 8  # every method but magnitude, against magnitude


def test_the_check_catches_a_legend_too_tall_for_its_figure():
    fig = Figure(figsize=(4, 2), layout="constrained")
    ax = fig.subplots()
    for i in range(28):
        ax.plot([0, 1], [i, i], label=f"method {i}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert any("leaves the figure" in p or "px" in p for p in layout_problems(fig, "x"))
