"""The one shape of a report section, the one figure saver and the Markdown rendering.

Every section of ``report.md`` (one per part of the paper) is a `Part`: a heading, blocks
(a string is written as is, a DataFrame is rendered by `markdown_table`), the CSVs it saves
and the figures it has saved. A wide table is shown with its first columns and a link to
the full CSV beside it, so the Markdown stays readable and nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pandas as pd
from matplotlib.figure import Figure

from propensity.analysis.formatting import format_value

# PNGs for reading on screen and in print; the PDF beside each is the vector original.
FIGURE_DPI = 200
# Columns a Markdown table shows; wider tables link their full CSV.
MAX_COLUMNS = 8


class Tables(Protocol):
    """What `propensity.collect.collect` / `load` return: the three collected tables."""

    runs: pd.DataFrame
    trajectories: pd.DataFrame
    histories: pd.DataFrame


def save_figure(fig: Figure, figures_dir: Path, stem: str) -> None:
    """Save `fig` as ``<stem>.png`` (`FIGURE_DPI`) and ``<stem>.pdf`` in `figures_dir`."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    fig.savefig(figures_dir / f"{stem}.png", dpi=FIGURE_DPI)
    fig.savefig(figures_dir / f"{stem}.pdf")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency), every cell formatted by the
    report's one rule (`propensity.analysis.formatting.format_value`); pipes are escaped."""
    if frame.empty:
        return "_(empty)_"
    columns = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    lines += [
        "| "
        + " | ".join(
            format_value(v.item() if hasattr(v, "item") else v, column).replace("|", "\\|")
            for v, column in zip(row, columns, strict=True)
        )
        + " |"
        for row in frame.itertuples(False)
    ]
    return "\n".join(lines)


@dataclass
class Part:
    """One section of the report: its heading, blocks, CSVs and saved figures."""

    heading: str
    blocks: list[str | pd.DataFrame] = field(default_factory=list)
    csvs: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[str] = field(default_factory=list)

    @property
    def sections(self) -> list[str | pd.DataFrame]:
        """The heading and the blocks, in order."""
        return [self.heading, *self.blocks]

    def add(self, *blocks: str | pd.DataFrame) -> None:
        self.blocks.extend(blocks)

    def table(
        self,
        name: str,
        frame: pd.DataFrame,
        columns: list[str] | None = None,
        hide: tuple[str, ...] = (),
    ) -> None:
        """Save `frame` as ``tables/<name>.csv``; show `columns` (default all) but `hide`.

        At most `MAX_COLUMNS` are shown; a link to the CSV follows whenever some are not.
        """
        self.csvs[name] = frame
        shown = [c for c in (columns or list(frame.columns)) if c in frame.columns and c not in hide]
        link = f"[tables/{name}.csv](tables/{name}.csv)"
        if len(shown) > MAX_COLUMNS:
            shown = shown[:MAX_COLUMNS]
        if len(shown) < len(frame.columns):
            self.add(frame[shown] if len(frame) else frame, f"All {len(frame.columns)} columns: {link}.")
        else:
            self.add(frame)

    def figure(self, fig: Figure, figures_dir: Path, stem: str, caption: str) -> None:
        """Save `fig` (`save_figure`) and add it, captioned, to the blocks."""
        save_figure(fig, figures_dir, stem)
        self.figures.append(stem)
        self.add(f"#### {caption}\n\n![{caption}](figures/{stem}.png) ([pdf](figures/{stem}.pdf))")

    def render(self) -> str:
        """The section as Markdown."""
        return "\n\n".join(b if isinstance(b, str) else markdown_table(b) for b in self.sections)
