"""A job's members as configs: the single-run configs of one grid cell.

A job of a multirun is one run, or a cohort (`propensity.launch.grouping` gives it its
members' seeds as ``+cohort_members``). Each member's config is exactly the one its single
run would have, so its run key, folder and record are that run's.
"""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

from propensity.identity import hashed_config
from propensity.launch.grouping import MEMBERS_KEY, SEED_KEYS

# A job's composed config, as Hydra hands it to the task: read into settings by
# `propensity.config.settings.read_settings`, and by nothing below the config package.
JobConfig = DictConfig


def member_configs(cfg: JobConfig) -> list[JobConfig]:
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


def check_one_cell(cfgs: Sequence[JobConfig]) -> None:
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
