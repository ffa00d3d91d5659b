"""A job's members: the single-run configs of one grid cell, read once and checked together.

A job of a multirun is one run, or a cohort (`propensity.launch.grouping` gives it its
members' seeds as ``+cohort_members``). Each member's config is exactly the one its single
run would have, so its run key, folder and record are that run's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from propensity.config import preflight
from propensity.config.members import JobConfig, check_one_cell, member_configs
from propensity.config.settings import (
    RunSettings,
    StackProbes,
    check_stackable_model,
    check_stackable_settings,
    read_settings,
)


def read_members(cfgs: Sequence[JobConfig], probes: StackProbes | None = None) -> list[RunSettings]:
    """Every member's `RunSettings`, validated, of one grid cell; with more than one member,
    a setting the stacked engine would not honour, or a model it cannot stack, is refused
    here, before anything trains (and, through `sweep_problems`, before a sweep launches).
    `probes` holds the stack question's answers a sweep has already found."""
    members = [read_settings(cfg) for cfg in cfgs]
    check_one_cell(cfgs)
    if len(members) > 1:
        check_stackable_settings(members[0])
        check_stackable_model(members[0], probes)
    return members


def sweep_problems(jobs: Sequence[JobConfig]) -> list[str]:
    """The pre-flight of a whole sweep (`propensity.config.preflight`), from each job's config:
    one line per distinct problem, with how many of the jobs have it. Runs already finished
    are not checked (their data may be gone; a rerun only skips them)."""
    from propensity.run.resumption import finished_record

    cache: preflight.Cache = {}
    probes: StackProbes = {}
    counts: Counter[str] = Counter()
    for job in jobs:
        found: list[str] = []
        cfgs = member_configs(job)
        try:
            members = read_members(cfgs, probes)
        except ValueError as error:  # ConfigError included: the usual one line
            found.append(str(error).splitlines()[0])
        else:
            for cfg, member in zip(cfgs, members, strict=True):
                if not (member.resume and finished_record(member) is not None):
                    found += preflight.problems(cfg, cache)
        counts.update(dict.fromkeys(found, 1))
    return [f"{line} ({n} of {len(jobs)} jobs)" if len(jobs) > 1 else line for line, n in counts.items()]
