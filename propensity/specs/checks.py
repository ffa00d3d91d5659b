"""The checks a setting's field declares, each refusing a bad value in one line.

A check is called with the setting's dotted key and its value as the config gave it (before
the field's type is applied), and raises `SettingError`, ``key=value: problem; fix``, naming
the key even where the value sits deep in a group.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# Bounds far beyond any run of the paper, small enough to refuse a typo in a second rather than
# attempt it: a count (examples, seeds, members), and a seed (numpy's generators take 32 bits).
MAX_COUNT = 10**7
MAX_SEED = 2**32 - 1


class SettingError(ValueError):
    """A setting's value that cannot give a meaningful run: one line, ``key=value: problem; fix``."""


class Check(Protocol):
    """Refuses `value` of the setting `key` with a `SettingError`; returns None otherwise."""

    def __call__(self, key: str, value: Any) -> None: ...


def refuse(key: str, value: Any, problem: str, fix: str) -> SettingError:
    """The one-line error for `value` of `key`: what is wrong with it, then how to fix it."""
    return SettingError(f"{key}={show(value)}: {problem}; {fix}")


def show(value: Any) -> str:
    """`value` as a command line writes it: lists in brackets, never an empty string."""
    if isinstance(value, tuple):
        value = list(value)
    text = str(value).replace("\n", " ")
    return text if text else "''"


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


@dataclass(frozen=True)
class Number:
    """A finite number (an integer where `integer`) in [low, high]; either end open on request."""

    low: float
    high: float
    fix: str
    integer: bool = False
    low_open: bool = False
    high_open: bool = False

    def __call__(self, key: str, value: Any) -> None:
        kind = "an integer" if self.integer else "a number"
        if not _is_number(value):
            raise refuse(key, value, f"must be {kind}", self.fix)
        if not math.isfinite(value):
            raise refuse(key, value, "must be finite", self.fix)
        if self.integer and not isinstance(value, int):
            raise refuse(key, value, "must be an integer", self.fix)
        below = value <= self.low if self.low_open else value < self.low
        above = value >= self.high if self.high_open else value > self.high
        if below or above:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            raise refuse(key, value, f"must be in {left}{self.low:g}, {self.high:g}{right}", self.fix)


@dataclass(frozen=True)
class Numbers:
    """A list of finite numbers, each passing `accepts`; `problem` says which."""

    accepts: Callable[[float], bool]
    problem: str
    fix: str

    def __call__(self, key: str, value: Any) -> None:
        if not isinstance(value, (list, tuple)) or not all(
            _is_number(v) and math.isfinite(v) and self.accepts(v) for v in value
        ):
            raise refuse(key, value, self.problem, self.fix)


@dataclass(frozen=True)
class Flag:
    """True or false, and nothing else (not 1, not "yes")."""

    def __call__(self, key: str, value: Any) -> None:
        if not isinstance(value, bool):
            raise refuse(key, value, "must be true or false", f"e.g. {key}=false")


@dataclass(frozen=True)
class Choice:
    """One of `options`, the names the code that implements them defines."""

    options: Sequence[str]

    def __call__(self, key: str, value: Any) -> None:
        if value not in self.options:
            raise refuse(key, value, "is unknown", f"use one of {', '.join(self.options)}")


@dataclass(frozen=True)
class Labels:
    """A list of strings; `what` names them in the problem (``a list of labels``)."""

    fix: str
    what: str = "labels"

    def __call__(self, key: str, value: Any) -> None:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise refuse(key, value, f"must be a list of {self.what}", self.fix)


@dataclass(frozen=True)
class Optional:
    """Null, or a value `check` accepts (``cohort_memory_gb: null`` leaves the choice to the code)."""

    check: Check

    def __call__(self, key: str, value: Any) -> None:
        if value is not None:
            self.check(key, value)
