"""A settings field carries its check and its identity; `Spec` applies them when built."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from propensity.specs import (
    Flag,
    Labels,
    Number,
    Optional,
    SettingError,
    Spec,
    later_defaults,
    logistics,
    refuse,
    setting,
)


@dataclass(frozen=True)
class Inner(Spec):
    group: ClassVar[str] = "inner"
    on: bool = setting(False, Flag())
    quiet: bool = setting(True, Flag(), logistics=True)


@dataclass(frozen=True)
class Outer(Spec):
    rate: float = setting(check=Number(0, 1, "e.g. rate=0.5", low_open=True))
    seeds: tuple[int, ...] = setting((0,))
    where: Path = setting(Path("."), logistics=True)
    limit: float | None = setting(None, Optional(Number(0, 10, "e.g. limit=2")), later_default=None)
    labels: tuple[str, ...] = setting((), Labels("e.g. labels=[a,b]"))
    inner: Inner = setting(default_factory=Inner)
    low: float = setting(0.0, later_default=0.0)

    def check_together(self) -> None:
        if self.limit is not None and self.limit < self.rate:
            raise refuse("limit", self.limit, "is below rate", "raise it")


def test_values_as_a_config_gives_them_take_the_declared_types() -> None:
    built = Outer.from_mapping({"rate": 1, "seeds": [1, 2], "where": "out", "limit": 3,
                                "inner": {"on": True}})
    assert built == Outer(rate=1.0, seeds=(1, 2), where=Path("out"), limit=3.0, inner=Inner(on=True))
    assert type(built.rate) is float and type(built.limit) is float and built.inner.quiet is True


@pytest.mark.parametrize(("values", "message"), [
    ({"rate": 0}, "rate=0: must be in (0, 1]; e.g. rate=0.5"),
    ({"rate": "high"}, "rate=high: must be a number; e.g. rate=0.5"),
    ({}, "rate=None: must be a number; e.g. rate=0.5"),  # a setting without default the config lacks
    ({"rate": 0.5, "limit": float("nan")}, "limit=nan: must be finite; e.g. limit=2"),
    ({"rate": 0.5, "limit": 0.1}, "limit=0.1: is below rate; raise it"),
    ({"rate": 0.5, "labels": ["a", 1]}, "labels=['a', 1]: must be a list of labels; e.g. labels=[a,b]"),
    ({"rate": 0.5, "inner": {"on": "yes"}}, "inner.on=yes: must be true or false; e.g. inner.on=false"),
    ({"rate": 0.5, "inner": 3}, "inner=3: must be the group of inner settings"),
    ({"rate": 0.5, "inner": {"onn": True}},
     "inner.onn=True: is not a setting of inner; did you mean inner.on?"),
    ({"rat": 0.5}, "rat=0.5: is not a setting of propensity; did you mean rate?"),
])
def test_a_bad_value_is_refused_in_one_line_naming_its_key(values: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingError) as info:
        Outer.from_mapping(values)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_keyword_construction_runs_the_same_checks() -> None:
    with pytest.raises(SettingError, match=r"^rate=2: must be in \(0, 1\]"):
        Outer(rate=2)


def test_identity_declarations_are_read_from_the_fields_nested_ones_included() -> None:
    assert list(logistics(Outer)) == ["where", "inner.quiet"]
    assert later_defaults(Outer) == {"limit": None, "low": 0.0}
