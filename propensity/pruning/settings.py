"""The pruning settings of a run (section 3.2), read once from the ``pruning`` config group.

One frozen dataclass is what every pruning function, the registry and the recipe read, so a
setting is named in one place; its defaults are those of ``propensity/conf/pruning``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class PruningSettings:
    """How a trained model is pruned and how its effective density is read."""

    method: str = "magnitude"
    baselines: tuple[str, ...] = ()
    schedule: str = "original"
    step: float = 0.02
    min_density: float = 0.01
    threshold: float = 0.05
    threshold_mode: str = "absolute"
    thresholds: tuple[float, ...] = (0.01, 0.02, 0.05, 0.1)
    eval_test: bool = False
    mask_seeds: int = 3
    levels_at_once: int = 1
    edge_popup: Mapping[str, Any] = field(default_factory=dict)
    score_samples: int = 256  # training examples a gradient score (SNIP, OBD) reads
    score_seed: int = 0  # the seed that draws them

    @property
    def methods(self) -> tuple[str, ...]:
        """The method, then its baselines: the order of ``trajectory.csv`` and the report."""
        return (self.method, *self.baselines)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> PruningSettings:
        """The settings of a ``pruning`` config as a plain mapping; unknown keys are refused."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"pruning.{unknown[0]} is not a pruning setting; use one of {sorted(known)}")
        kwargs = dict(values)
        for key in ("baselines", "thresholds"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        if "edge_popup" in kwargs:
            kwargs["edge_popup"] = dict(kwargs["edge_popup"])
        return cls(**kwargs)
