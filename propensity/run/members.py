"""A job's members: the single-run configs of one grid cell, read once and checked together.

A job of a multirun is one run, or a cohort (`propensity.launch.grouping` gives it its
members' seeds as ``+cohort_members``). Each member's config is exactly the one its single
run would have, so its run key, folder and record are that run's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from propensity.config import preflight
from propensity.config.settings import (
    RunSettings,
    check_stackable_model,
    check_stackable_settings,
    read_settings,
)
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
    here, before anything trains (and, through `sweep_problems`, before a sweep launches)."""
    members = [read_settings(cfg) for cfg in cfgs]
    check_one_cell(cfgs)
    if len(members) > 1:
        check_stackable_settings(members[0])
        check_stackable_model(members[0])
    return members


def sweep_problems(jobs: Sequence[DictConfig]) -> list[str]:
    """The pre-flight of a whole sweep (`propensity.config.preflight`), from each job's config:
    one line per distinct problem, with how many of the jobs have it. Runs already finished
    are not checked (their data may be gone; a rerun only skips them)."""
    from propensity.run.records import finished_record

    cache: preflight.Cache = {}
    counts: Counter[str] = Counter()
    for job in jobs:
        found: list[str] = []
        try:
            members = read_members(member_configs(job))
        except ValueError as error:  # ConfigError included: the usual one line
            found.append(str(error).splitlines()[0])
        else:
            for member in members:
                if not (member.resume and finished_record(member) is not None):
                    found += preflight.problems(member.cfg, cache)
        counts.update(dict.fromkeys(found, 1))
    return [f"{line} ({n} of {len(jobs)} jobs)" if len(jobs) > 1 else line for line, n in counts.items()]
