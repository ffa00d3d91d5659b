"""Scaling a default layer size by the width factor (section 3.1, 'Network Size')."""


def scaled(units: int, width: float, layer: str) -> int:
    """Units of a layer of `units` default units at `width`: ``int(units * width)``.

    Truncation (not rounding) reproduces Table 1's MLP counts exactly. A width so small
    that a layer would have no unit is a configuration error, reported with the fix.
    """
    if not width > 0:
        raise ValueError(f"width={width} must be > 0 (e.g. width=0.1 or width=2)")
    n = int(units * width)
    if n < 1:
        raise ValueError(
            f"width={width} leaves layer '{layer}' with no unit ({units} x {width} < 1); "
            f"use width >= {1 / units:g}"
        )
    return n
