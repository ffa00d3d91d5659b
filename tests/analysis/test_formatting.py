"""The report's one rule for numbers in tables: the precision the data carry."""

import numpy as np
import pandas as pd

from propensity.analysis.formatting import format_p, format_value, is_p_column


def test_float_noise_shows_as_zero_and_real_values_keep_four_significant_digits():
    std_of_equal_values = float(np.std([0.42, 0.42, 0.42 + 1e-16], ddof=1))
    assert 0 < std_of_equal_values < 1e-12
    assert format_value(std_of_equal_values, "std_ed") == "0"
    assert format_value(5.9e-14, "diff_ci_low") == "0"
    assert format_value(-1.36e-16, "mean_diff") == "0"
    assert format_value(0.123456, "mean_ed") == "0.1235"
    assert format_value(0.42000000001, "mean_ed") == "0.42"
    assert format_value(2e-4, "lr") == "0.0002"


def test_counts_get_separators_and_missing_values_say_so():
    assert format_value(16190, "n") == "16,190"
    assert format_value(21084.0, "mean_unpruned") == "21,084"
    for missing in (None, float("nan"), pd.NA):
        assert format_value(missing, "x") == "n/a"
    assert format_value(True, "never_degraded") == "True"
    assert format_value("a|b", "note") == "a|b"


def test_p_values_are_p_columns_at_four_decimals_with_a_floor():
    assert [is_p_column(c) for c in ("p", "p_holm", "anova_p", "p_equiv_null", "mean_ed")] == [
        True, True, True, True, False,
    ]  # fmt: skip
    assert format_value(3e-20, "p_holm") == "< 0.0001"
    assert format_value(0.04567, "p") == "0.0457"
    assert format_p(float("nan")) == "n/a"
