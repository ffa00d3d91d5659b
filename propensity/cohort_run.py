"""Glue: train a cohort of configs (one grid cell, several seeds) and record each member.

Each member is the single run its config describes (`propensity.train`): same data module,
model, initialisation, batch seed and run key, and one run folder with ``history.csv``,
``trajectory.csv`` and ``record.json``. Only the arithmetic is shared: training and the
pruning trajectories go through `propensity.cohort`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from propensity.cohort import Member, StopRule
from propensity.identity import batch_seed, scientific_config
from propensity.models import initialize

# Keys in which the members of one cohort may differ.
SEED_KEYS: tuple[str, ...] = ("init_seed", "data_seed")


@dataclass
class Prepared:
    """One member's single-run ingredients, built as `propensity.train` builds them."""

    cfg: DictConfig
    model: nn.Module
    datamodule: Any
    member: Member


def cell(cfg: DictConfig) -> str:
    """The grid cell of a config: its scientific config without the seeds, as JSON."""
    import json

    science = {k: v for k, v in scientific_config(cfg).items() if k not in SEED_KEYS}
    return json.dumps(science, sort_keys=True)


def check_cohort(cfgs: Sequence[DictConfig]) -> None:
    """One line naming the key when the configs are not one grid cell's seeds."""
    if not cfgs:
        raise ValueError("a cohort needs at least one config")
    first = scientific_config(cfgs[0])
    for cfg in cfgs[1:]:
        other = scientific_config(cfg)
        for key in first:
            if key not in SEED_KEYS and first[key] != other[key]:
                raise ValueError(
                    f"cohort members differ in {key!r} ({first[key]} vs {other[key]}); only "
                    f"{' and '.join(SEED_KEYS)} may vary within a cohort"
                )


def prepare(cfgs: Sequence[DictConfig]) -> list[Prepared]:
    """Data modules, initialised models and `Member` data for each config.

    Members of one data seed share one data module, so their split tensors are one object
    (held once by the cohort).
    """
    from propensity.train import build

    check_cohort(cfgs)
    modules: dict[int, Any] = {}
    out = []
    for cfg in cfgs:
        seed = batch_seed(cfg.init_seed, cfg.data_seed)
        if int(cfg.data_seed) not in modules:
            dm = build(cfg.data, data_seed=cfg.data_seed, batch_seed=seed)
            dm.prepare_data()
            dm.setup("fit")
            modules[int(cfg.data_seed)] = dm
        dm = modules[int(cfg.data_seed)]
        model = build(cfg.model, input_shape=dm.input_shape, num_classes=dm.num_classes)
        initialize(model, cfg.init.scheme, cfg.init_seed)
        member = Member(dm.x_train, dm.y_train, dm.x_val, dm.y_val, seed)
        out.append(Prepared(cfg, model, dm, member))
    return out


def stop_rule(cfg: DictConfig) -> StopRule:
    """The cohort's `StopRule` from the ``stop`` config group."""
    stop = OmegaConf.to_container(cfg.stop, resolve=True)
    assert isinstance(stop, dict)
    return StopRule(stop["name"], int(stop["max_epochs"]), float(stop.get("target", 0.2)))


def device_of(cfg: DictConfig) -> torch.device:
    """``cuda`` when the trainer may use it and one is visible, else the CPU."""
    accelerator = str(cfg.trainer.get("accelerator", "auto"))
    if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")
