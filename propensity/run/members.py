"""A job's members: the single-run configs of one grid cell, read once and checked together.

A job of a multirun is one run, or a cohort (`propensity.launch.grouping` gives it its
members' seeds as ``+cohort_members``). Each member's config is exactly the one its single
run would have, so its run key, folder and record are that run's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import torch
from torch import nn

from propensity.config import preflight
from propensity.config.members import JobConfig, check_one_cell, member_configs
from propensity.config.settings import (
    RunSettings,
    StackProbes,
    check_stackable_model,
    check_stackable_settings,
    read_settings,
)
from propensity.data.base import TensorDataModule
from propensity.retrain import FinetuneSettings, IMPSettings
from propensity.retrain.rewind import rewind_state_path
from propensity.run.resumption import finished_record


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
                try:
                    check_branch(member)
                except BranchError as error:
                    found.append(str(error))
        counts.update(dict.fromkeys(found, 1))
    return [f"{line} ({n} of {len(jobs)} jobs)" if len(jobs) > 1 else line for line, n in counts.items()]


def data_module(member: RunSettings, modules: dict[int, TensorDataModule]) -> TensorDataModule:
    """The member's data, set up for fitting: one module per data seed, kept in `modules` and
    shared by the members of that seed."""
    if member.data_seed not in modules:
        dm = member.build.data(data_seed=member.data_seed, batch_seed=member.batch_seed)
        dm.prepare_data()
        dm.setup("fit")
        modules[member.data_seed] = dm
    return modules[member.data_seed]


def build_model(member: RunSettings, data: TensorDataModule) -> nn.Module:
    """The member's model, built with the global generator seeded by its init seed alone (and
    restored after): whatever a model draws itself at construction beyond the Linear and Conv
    weights `initialize` redraws (a researcher's embeddings, say) is then the same in a cohort
    as in its single run, and depends on nothing but the init seed (section 4.4)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(member.init_seed)
        return member.build.model(input_shape=data.input_shape, num_classes=data.num_classes)


def rewind_iteration(run: RunSettings) -> int | None:
    """The iteration whose weights the dense run must keep for its IMP branch (k > 0; the
    initial weights, k = 0, are replayed from the init seed instead)."""
    settings = run.retrain
    if isinstance(settings, IMPSettings) and settings.rewind_iteration:
        return settings.rewind_iteration
    return None


# Methods whose masks are a ranking of the trained weights, which fine-tuning prunes with.
FINETUNE_METHODS = ("magnitude", "global_magnitude", "random")
TRAINED = "trained.pt"  # a run's trained weights, kept for the branches added to it


class BranchError(ValueError):
    """A branch that cannot run on its trained run (one line: the problem and the fix)."""


def check_branch(run: RunSettings) -> None:
    """Refuse, before anything trains, a branch the run's settings cannot give."""
    settings = run.retrain
    if isinstance(settings, FinetuneSettings) and run.pruning.method not in FINETUNE_METHODS:
        raise BranchError(
            f"retrain=finetune: pruning.method={run.pruning.method} gives no mask per level of the "
            f"trained weights to fine-tune; use pruning.method= one of {', '.join(FINETUNE_METHODS)}")
    finished = run.resume and finished_record(run) is not None
    if finished and settings.regime != "none" and not (run.run_dir / TRAINED).is_file():
        raise BranchError(
            f"retrain={settings.regime}: run {run.run_key} finished without keeping its trained weights "
            f"({TRAINED}); train it again with resume=false to add the branch")
    k = rewind_iteration(run)
    if finished and k is not None and not rewind_state_path(run.run_dir, k).is_file():
        raise BranchError(
            f"retrain.rewind_iteration={k}: run {run.run_key} finished without keeping its weights at "
            "that iteration (they are saved while the dense run trains with this setting); train it "
            "again with resume=false, or use retrain.rewind_iteration=0")
    if run.pruning.threshold_mode == "loss" and settings.regime != "none":
        raise BranchError(f"retrain={settings.regime}: pruning.threshold_mode=loss is not read by "
                          "the retrained levels' search; use threshold_mode=absolute or relative")
