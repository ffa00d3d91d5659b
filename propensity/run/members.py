"""A job's members: the single-run configs of one grid cell, read once and checked together.

A job of a multirun is one run, or a cohort (`propensity.launch.grouping` gives it its
members' seeds as ``+cohort_members``). Each member's config is exactly the one its single
run would have, so its run key, folder and record are that run's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from propensity.config.settings import (
    RunSettings,
    check_stackable_model,
    check_stackable_settings,
    read_settings,
)
from propensity.config.validation import ConfigError
from propensity.identity import hashed_config
from propensity.launch.grouping import MEMBERS_KEY, SEED_KEYS


def member_configs(cfg: DictConfig) -> list[DictConfig]:
    """The single-run configs of a job: one per member's seeds, or `cfg` itself for one run.

    Each member is `cfg` with that member's ``init_seed`` and ``data_seed`` and without the
    ``cohort_members`` key.
    """
    if not cfg.get(MEMBERS_KEY):
        return [cfg]
    members = OmegaConf.to_container(cfg[MEMBERS_KEY], resolve=True)
    assert isinstance(members, list)
    base = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(base, dict)
    base.pop(MEMBERS_KEY)
    out = []
    for init_seed, data_seed in members:
        member = OmegaConf.create(base)
        if init_seed is not None:
            member.init_seed = int(init_seed)
        if data_seed is not None:
            member.data_seed = int(data_seed)
        out.append(member)
    return out


def check_one_cell(cfgs: Sequence[DictConfig]) -> None:
    """One line naming the key when the configs are not one grid cell's seeds."""
    if not cfgs:
        raise ValueError("a job needs at least one run")
    first = hashed_config(cfgs[0])
    for cfg in cfgs[1:]:
        other = hashed_config(cfg)
        for key in sorted(first.keys() | other.keys()):
            if key not in SEED_KEYS and first.get(key) != other.get(key):
                raise ValueError(
                    f"cohort members differ in {key!r} ({first.get(key)} vs {other.get(key)}); only "
                    f"{' and '.join(SEED_KEYS)} may vary within a cohort"
                )


def read_members(cfgs: Sequence[DictConfig]) -> list[RunSettings]:
    """Every member's `RunSettings`, validated, of one grid cell; with more than one member,
    a setting the stacked engine would not honour, or a model it cannot stack, is refused
    here, before anything trains."""
    members = [read_settings(cfg) for cfg in cfgs]
    check_one_cell(cfgs)
    if len(members) > 1:
        check_stackable_settings(members[0])
        check_stackable_model(members[0])
    return members


def preflight(cfg: DictConfig, checked: set[str] | None = None) -> None:
    """Refuse a cohort job before it is launched when the stacked engine cannot train it: its
    settings and model are checked as `read_members` checks them (one-line `ConfigError`). A
    config that is invalid anyway is left to its job, which reports it as any job does (the
    other jobs of the sweep go on). A model and data set already in `checked` (JSON of their
    configs) are not probed again."""
    cfgs = member_configs(cfg)
    if len(cfgs) < 2:
        return
    try:
        first = read_settings(cfgs[0])
    except (ConfigError, ValueError):
        return
    check_stackable_settings(first)
    key = json.dumps([OmegaConf.to_container(cfgs[0][g], resolve=True) for g in ("model", "data")],
                     sort_keys=True, default=str)
    if checked is None or key not in checked:
        check_stackable_model(first)
        if checked is not None:
            checked.add(key)

