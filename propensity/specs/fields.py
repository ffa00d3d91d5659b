"""`setting`, a dataclass field that carries its check and identity, and `Spec`, which applies them.

A group of settings is written once, as a frozen dataclass deriving from `Spec`::

    @dataclass(frozen=True)
    class PruningSettings(Spec):
        group: ClassVar[str] = "pruning"
        step: float = setting(0.02, Number(0, 0.5, "e.g. pruning.step=0.02", low_open=True))

Building it, from keyword arguments or from a config's mapping (`Spec.from_mapping`), runs
every field's check on the value as given, then the rules between fields (`Spec.check_together`),
then applies the field's type (an integer where a
number is declared becomes a float, a list becomes a tuple, a mapping becomes the nested
settings it declares), so two spellings of one setting compare equal.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from propensity.specs.checks import Check, refuse

_SETTING = "propensity.setting"
SpecT = TypeVar("SpecT", bound="Spec")


@dataclass(frozen=True)
class _Declared:
    check: Check | None
    logistics: bool
    later_default: Any


def setting(default: Any = MISSING, check: Check | None = None, *, logistics: bool = False,
            later_default: Any = MISSING, default_factory: Any = MISSING) -> Any:
    """A field of a `Spec`: its default (none: the config must give it), the check its value
    must pass, and its place in the run's identity (`propensity.identity`): `logistics` if it
    says where or how a run happens, never what it computes, so it never enters the run key;
    `later_default`, for a setting added after run keys existed, the value that reproduces
    the runs made before it, so they keep their keys."""
    metadata = {_SETTING: _Declared(check, logistics, later_default)}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


class Spec:
    """The base of a frozen settings dataclass whose fields are declared with `setting`.

    `group` is the config group the settings are read from (``pruning``); empty for the
    top level. A rule between fields goes in `check_together`."""

    group: ClassVar[str] = ""

    def __post_init__(self) -> None:
        cls = type(self)
        declared = setting_fields(cls)
        for f in declared:
            check = f.metadata[_SETTING].check
            if check is not None:
                check(key_of(cls, f.name), getattr(self, f.name))
        self.check_together()
        hints = _hints(cls)
        for f in declared:
            value = getattr(self, f.name)
            typed = _typed(hints[f.name], value)
            nested = _spec_type(hints[f.name])
            if nested is not None and not isinstance(typed, nested):
                raise refuse(key_of(cls, f.name), value, f"must be the group of {nested.group} settings",
                             f"set its keys, e.g. {key_of(cls, f.name)}.<key>=<value>")
            if typed is not value:
                object.__setattr__(self, f.name, typed)  # frozen: the one write, while building

    def check_together(self) -> None:
        """Refuse a combination of values each field's own check passed (`SettingError`); the
        values are still as given, before their types are applied. None by default."""

    @classmethod
    def from_mapping(cls: type[SpecT], values: Mapping[str, Any]) -> SpecT:
        """The settings of a config's plain mapping; a key that is no field is refused with the
        field it resembles, and a field without a default that the mapping lacks is checked as
        null, so its check names it."""
        names = [f.name for f in fields(cls) if f.init]  # type: ignore[arg-type]
        unknown = sorted(set(values) - set(names))
        if unknown:
            close = difflib.get_close_matches(unknown[0], names, n=1)
            fix = f"did you mean {key_of(cls, close[0])}?" if close else f"use one of {', '.join(names)}"
            raise refuse(key_of(cls, unknown[0]), values[unknown[0]],
                         f"is not a setting of {cls.group or 'propensity'}", fix)
        given = {name: values[name] for name in names if name in values}
        needed = {f.name: None for f in setting_fields(cls) if f.name not in values and _required(f)}
        return cls(**given, **needed)


def setting_fields(cls: type) -> tuple[Field, ...]:
    """The fields of `cls` declared with `setting`, in order."""
    return tuple(f for f in fields(cls) if _SETTING in f.metadata)


def key_of(cls: type, name: str) -> str:
    """The dotted key of field `name` of the settings `cls` (``pruning.step``; ``width``)."""
    group = getattr(cls, "group", "")
    return f"{group}.{name}" if group else name


def logistics(cls: type) -> Iterator[str]:
    """The dotted keys of `cls`'s logistics settings, those of nested settings included."""
    hints = _hints(cls)
    for f in setting_fields(cls):
        nested = _spec_type(hints[f.name])
        if f.metadata[_SETTING].logistics:
            yield key_of(cls, f.name)
        elif nested is not None:
            yield from logistics(nested)


def later_defaults(cls: type) -> dict[str, Any]:
    """Dotted key -> the value that reproduces the runs made before the setting existed, for
    each setting of `cls` (nested settings included) that declares one."""
    hints = _hints(cls)
    found: dict[str, Any] = {}
    for f in setting_fields(cls):
        nested = _spec_type(hints[f.name])
        if f.metadata[_SETTING].later_default is not MISSING:
            found[key_of(cls, f.name)] = f.metadata[_SETTING].later_default
        elif nested is not None:
            found.update(later_defaults(nested))
    return found


def _required(f: Field) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _spec_type(hint: Any) -> type[Spec] | None:
    return hint if isinstance(hint, type) and issubclass(hint, Spec) else None


def _typed(hint: Any, value: Any) -> Any:
    """`value`, as given by a config, in the type `hint` declares; unchanged where it is already
    that type or cannot be (the field's check refuses what it must)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _typed(options[0], value) if len(options) == 1 else value
    nested = _spec_type(hint)
    if nested is not None and isinstance(value, Mapping):
        return nested.from_mapping(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Path and isinstance(value, str):
        return Path(value)
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value
