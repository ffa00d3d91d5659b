"""Section 3.1 of the report: how the runs trained (Figures 1 and 2)."""

from __future__ import annotations

from pathlib import Path

from propensity.analysis import validation_accuracy_curves, validation_loss_curves
from propensity.report.parts import Part, Tables


def training_part(tables: Tables, figures_dir: Path) -> Part:
    """Validation accuracy and loss per epoch, one line per run, by width."""
    part = Part("## Training (section 3.1)")
    part.figure(
        validation_accuracy_curves(tables.runs, tables.histories),
        figures_dir,
        "fig1_val_accuracy",
        "Figure 1: validation accuracy per epoch, one line per run, by width",
    )
    part.figure(
        validation_loss_curves(tables.runs, tables.histories),
        figures_dir,
        "fig2_val_loss",
        "Figure 2: validation loss per epoch; crosses mark where each run stopped",
    )
    return part
