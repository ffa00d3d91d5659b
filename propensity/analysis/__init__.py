"""Pure functions from the collected result tables to the paper's tables and figures.

Sections 3-4 (Tables 1-2, Figures 1-6 and what the paper lacks: the propensity exponent,
effect sizes, confidence intervals, Holm correction, threshold sensitivity) live in the modules
re-exported here; `propensity.report` and the notebooks only call them. The section-5 mechanism analyses
(overlap, similarity, activations) are separate modules of this package; the pruning methods
compared (sections 2 and 6) are re-exported from `methods`.
"""

from propensity.analysis.density import (
    ed_by_init,
    ed_by_threshold,
    effective_density_kde,
    pruning_trajectories,
    threshold_columns,
)
from propensity.analysis.exponent import exponent_sensitivity, exponent_table, local_exponents
from propensity.analysis.exponent_figure import exponent_figure
from propensity.analysis.methods import (
    ed_by_method,
    method_frame,
    method_summary,
    methods_present,
    paired_differences,
    trajectories_by_method,
)
from propensity.analysis.model_types import complete_runs, model_type_labels, status_counts
from propensity.analysis.null_hypothesis import null_ed, pair_with_reference, pairing_summary
from propensity.analysis.significance import anova, effect_sizes, holm, mean_ci, paired_test, t_test
from propensity.analysis.table2 import (
    ANOVA_COLUMNS,
    ANOVA_MARK,
    T_TEST_MARK,
    TEST_COLUMNS,
    anova_table,
    format_table2,
    table2,
)
from propensity.analysis.training import (
    stopping_points,
    validation_accuracy_curves,
    validation_loss_curves,
)
from propensity.analysis.weight_counts import (
    observed_weight_counts,
    paper_conv2_count,
    paper_resnet_count,
    project_count,
    table1,
    unpruned_vs_null,
    weight_counts_by_width,
)

__all__ = [
    "ANOVA_COLUMNS",
    "ANOVA_MARK",
    "TEST_COLUMNS",
    "T_TEST_MARK",
    "anova",
    "anova_table",
    "complete_runs",
    "ed_by_init",
    "ed_by_method",
    "ed_by_threshold",
    "effect_sizes",
    "effective_density_kde",
    "exponent_figure",
    "exponent_sensitivity",
    "exponent_table",
    "format_table2",
    "holm",
    "local_exponents",
    "mean_ci",
    "method_frame",
    "method_summary",
    "methods_present",
    "model_type_labels",
    "null_ed",
    "observed_weight_counts",
    "pair_with_reference",
    "paired_differences",
    "paired_test",
    "pairing_summary",
    "paper_conv2_count",
    "paper_resnet_count",
    "project_count",
    "pruning_trajectories",
    "status_counts",
    "stopping_points",
    "t_test",
    "table1",
    "table2",
    "threshold_columns",
    "trajectories_by_method",
    "unpruned_vs_null",
    "validation_accuracy_curves",
    "validation_loss_curves",
    "weight_counts_by_width",
]
