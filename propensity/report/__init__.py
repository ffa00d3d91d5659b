"""Every table and figure of the paper's sections 3-5, from one results directory.

``python -m propensity.report RESULTS_DIR --out DIR`` (or ``propensity-report``) writes
``DIR/report.md``, ``DIR/figures/*.png`` and ``*.pdf``, and ``DIR/tables/*.csv``. The report
opens with the key findings and the runs left out, then has one part per paper section, all
of one shape (`Part`): training (`training_section`), effective density and the null
hypothesis (`density_section`), pruning methods (`methods_section`), the mechanisms of
section 5 (`mechanisms_section`), the learning coefficient (`llc_section`) and, only when
runs carry them, the retraining regimes (`regimes_section`). It
only calls `propensity.analysis`; the notebooks call the same functions, so the two never
disagree.
"""

from propensity.report.build import SECTIONS, build_report
from propensity.report.command_line import load_tables, main
from propensity.report.density_section import FIGURES
from propensity.report.parts import FIGURE_DPI, Part, Tables, markdown_table, save_figure

__all__ = [
    "FIGURES",
    "FIGURE_DPI",
    "SECTIONS",
    "Part",
    "Tables",
    "build_report",
    "load_tables",
    "main",
    "markdown_table",
    "save_figure",
]
