"""Grouping a multirun's jobs into cohorts: the logic of the ``CohortSweeper`` Hydra plugin.

Hydra's basic sweeper makes one job per point of the grid. The cohort sweeper
(``hydra_plugins/propensity_cohort``; Hydra loads plugins only from that namespace) makes
the same points, then merges the jobs that differ only in ``init_seed`` and ``data_seed``
into jobs of up to ``cohort`` members (the top-level config key; 1 keeps one job per run).
A merged job carries its members' seeds in ``+cohort_members=[[init_seed,data_seed],...]``
(null: the seed the config sets, not swept) and its first member's seeds as its own, so
launchers (``launcher=gpus``, ``launcher=slurm``) spread cohorts as they spread jobs, and
its job (`propensity.run.job`) trains its members through the one recipe. Users'
commands do not change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# The keys in which the members of one cohort may differ.
SEED_KEYS: tuple[str, ...] = ("init_seed", "data_seed")
MEMBERS_KEY = "cohort_members"


def group_jobs(jobs: Sequence[Sequence[str]], cohort: int) -> list[list[str]]:
    """Merge jobs whose overrides differ only in the seeds into jobs of up to `cohort` members.

    A cohort appears where its first member was. Within a grid cell members are taken by
    data seed (stable, otherwise in sweep order), so a cohort holds as few data seeds as
    possible: members of one data seed share their data in memory, and every evaluation of
    their common validation split (each epoch, every pruning level) passes through the first
    layer once for all of them. A cohort of one is the original job, unchanged.
    """
    if not isinstance(cohort, int) or isinstance(cohort, bool) or cohort < 1:
        raise ValueError(f"cohort={cohort!r} must be a positive integer (1 = single runs)")
    groups: dict[tuple[str, ...], list[tuple[list[str], tuple[str, str]]]] = {}
    for job in jobs:
        rest = tuple(o for o in job if key_of(o) not in SEED_KEYS)
        seeds = {key_of(o): o.split("=", 1)[1] for o in job if key_of(o) in SEED_KEYS}
        groups.setdefault(rest, []).append(
            (list(job), (seeds.get("init_seed", ""), seeds.get("data_seed", "")))
        )
    out = []
    for members in groups.values():
        members.sort(key=lambda member: _seed_order(member[1][1]))
        for start in range(0, len(members), cohort):
            chunk = members[start : start + cohort]
            if len(chunk) == 1:
                out.append(chunk[0][0])
                continue
            seeds = ",".join(f"[{i or 'null'},{d or 'null'}]" for _, (i, d) in chunk)
            out.append([*chunk[0][0], f"+{MEMBERS_KEY}=[{seeds}]"])
    return out


def key_of(override: str) -> str:
    """The config key an override sets (``+a.b=1`` -> ``a.b``)."""
    return override.split("=", 1)[0].lstrip("+~")


def _seed_order(seed: str) -> tuple[int, int | str]:
    """Sort key of a data seed override's value: numbers by value, anything else after them."""
    try:
        return (0, int(seed))
    except ValueError:
        return (1, seed)


def readable_job_line(line: str) -> str:
    """Hydra's launch line of a job (``#0 : width=0.1 init_seed=0 +cohort_members=[[0,null],
    [1,null]]``) with the members' seeds in place of the internal key: ``#0 : width=0.1
    init_seed=0,1 (a cohort of 2)``. Lines without the key come back unchanged."""
    found = re.search(rf"(?:^|\s)\+{MEMBERS_KEY}=(\S+)", line)
    if found is None:
        return line
    pairs = [tuple(None if s == "null" else s for s in pair.split(","))
             for pair in re.findall(r"\[([^\[\]]*)\]", found.group(1))]
    inits, datas = [p[0] for p in pairs], [p[1] for p in pairs]
    swept = {key for key, values in (("init_seed", inits), ("data_seed", datas)) if any(values)}
    rest = [t for t in (line[: found.start()] + line[found.end():]).split(" ")
            if t.split("=", 1)[0] not in swept]
    if len(set(datas)) == 1 or len(set(inits)) == 1:
        seeds = [f"{key}={','.join(dict.fromkeys(values))}" for key, values in
                 (("init_seed", inits), ("data_seed", datas)) if any(values)]
    else:
        seeds = ["(init_seed,data_seed)=" + ",".join(f"({i},{d})" for i, d in zip(inits, datas, strict=True))]
    return " ".join([*(t for t in rest if t), *seeds, f"(a cohort of {len(pairs)})"])
