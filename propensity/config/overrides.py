"""The command line's overrides, handed to Hydra so a misspelt key reaches the project's check.

Hydra refuses ``key=value`` for a key the composed config lacks with its own advice ("To
append to your config use +key=value"), so a typo such as ``widht=0.5`` first sends the user
to add a key that does not exist. Here every ``key=value`` whose key no config file of
propensity sets is passed on as ``++key=value`` (set it, adding it if absent): composition
then succeeds, and the pre-flight refuses the unknown key in one line with the setting it
resembles (`propensity.config.validation`, `propensity.config.preflight`). A key the
project does set keeps its plain form, so Hydra's job lines read as the user typed them.
Treating a known key as unknown only adds ``++``, which Hydra applies the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path

import yaml

CONF = Path(__file__).resolve().parent.parent / "conf"
# Hydra's flags whose value is the next argument (``-sc query=bash``), not an override.
VALUE_FLAGS = frozenset({"-sc", "--shell-completion", "-cp", "--config-path", "-cn", "--config-name",
                         "-cd", "--config-dir", "-c", "--cfg", "-p", "--package", "--experimental-rerun"})


def with_unknown_keys_forced(arguments: Sequence[str]) -> list[str]:
    """`arguments` (``sys.argv[1:]``) with each override of a key no config file sets
    written ``++key=value``; flags, group choices and ``+``/``++``/``~`` overrides unchanged."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    out: list[str] = []
    for argument in arguments:
        if argument.startswith("-") or "=" not in argument or (out and out[-1] in VALUE_FLAGS):
            out.append(argument)
            continue
        try:
            [override] = parser.parse_overrides([argument])
        except HydraException:  # Hydra's own message says what is wrong with the syntax
            out.append(argument)
            continue
        key = override.key_or_group
        if (override.type is OverrideType.CHANGE and override.package is None and "/" not in key
                and key not in groups() and key.split(".")[0] != "hydra" and key not in known_keys()):
            argument = "++" + argument
        out.append(argument)
    return out


@cache
def groups() -> frozenset[str]:
    """The config groups (``model``, ``data``, ...): a choice among their files, not a key."""
    return frozenset(p.name for p in CONF.iterdir() if p.is_dir() and not p.name.startswith("_"))


@cache
def top_level_keys() -> tuple[str, ...]:
    """The top-level keys of a composed config: the top-level settings
    (`propensity.config.top_level.TopLevelSettings`), ``name`` first, then one per config
    group that lands under its own name (``model``, ``data``, ...; not ``experiment`` or
    ``launcher``, whose files set other keys), and the cohort sweeper's members. A new
    top-level setting is a field there and a line in ``train.yaml``; this list follows."""
    from dataclasses import fields

    from propensity.config.top_level import TopLevelSettings
    from propensity.launch.grouping import MEMBERS_KEY

    own = [f.name for f in fields(TopLevelSettings)]
    placed = [g for g in sorted(groups() - {"hydra"})
              if not any("@package" in p.read_text() for p in (CONF / g).glob("*.yaml"))]
    return (*own, *(g for g in placed if g not in own), MEMBERS_KEY)


@cache
def known_keys() -> frozenset[str]:
    """The dotted keys every composed config has: those of ``train.yaml``, and those every
    option of a group sets (``data.batch_size``, not ``data.download``, which only some data
    sets take)."""
    found = set(_dotted(yaml.safe_load((CONF / "train.yaml").read_text()), ""))
    for group in groups() - {"hydra", "experiment", "debug"}:
        options = [yaml.safe_load(p.read_text()) or {} for p in sorted((CONF / group).glob("*.yaml"))]
        if options and all(isinstance(o, dict) for o in options):
            found.update(set.intersection(*(set(_dotted(o, group)) for o in options)))
    return frozenset(found)


def _dotted(node: dict, prefix: str) -> Iterator[str]:
    for key, value in node.items():
        if key == "defaults" and not prefix:
            continue
        dotted = f"{prefix}.{key}" if prefix else str(key)
        yield dotted
        if isinstance(value, dict):
            yield from _dotted(value, dotted)
