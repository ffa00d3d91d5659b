"""How a number is shown in every table of the report: the precision the data carry.

The report's tables are Markdown; their CSVs keep every digit. What a table shows:

- an integer, or a float of 1,000 or more (a weight count), with thousands separators;
- a p-value (a column named ``p``, ``p_*`` or ``*_p``) to 4 decimals, ``< 0.0001`` below;
- any other float to 4 significant digits, the precision an ED (a 2% grid step), an
  accuracy (a multiple of 1/N validation images) or a mean of a few seeds carries;
- a float smaller than `NOISE_FLOOR` in magnitude as ``0``: float64 arithmetic on values
  of order one leaves about 1e-16 behind (the sample std of equal values, the difference of
  equal means, an interval's bound on a zero difference), and no quantity of the paper's
  sections 3-6 other than a p-value is that small;
- NaN and None as ``n/a``.
"""

from __future__ import annotations

import math

import pandas as pd

NOISE_FLOOR = 1e-12
P_FLOOR = 1e-4


def is_p_column(column: str) -> bool:
    """Whether `column` holds p-values: ``p``, ``p_holm``, ``p_equiv_null``, ``anova_p``."""
    name = column.lower()
    return name == "p" or name.startswith("p_") or name.endswith("_p")


def format_p(p: float | None) -> str:
    """A p-value to 4 decimals, ``< 0.0001`` below that, ``n/a`` when missing."""
    if p is None or pd.isna(p):
        return "n/a"
    return f"< {P_FLOOR:g}" if p < P_FLOOR else f"{p:.4f}"


def format_value(value: object, column: str = "") -> str:
    """`value` as a table cell of `column` (the rules of this module); text is kept as is."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if is_p_column(column):
            return format_p(value)
        if abs(value) < NOISE_FLOOR:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return str(value)
