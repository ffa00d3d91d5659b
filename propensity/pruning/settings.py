"""The pruning settings of a run (section 3.2), read once from the ``pruning`` config group.

One frozen dataclass is what every pruning function, the registry and the recipe read, so a
setting is named in one place, with its check beside it; its defaults are those of
``propensity/conf/pruning``. Which names a method may have is the registry's to say
(`propensity.pruning.registry.refuse_unregistered`), beside the methods themselves.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from propensity.pruning.effective_density import MODES as THRESHOLD_MODES
from propensity.pruning.masks import SCHEDULES, STEP_RANGE
from propensity.specs import (
    MAX_COUNT,
    MAX_SEED,
    Check,
    Choice,
    Flag,
    Labels,
    Number,
    Numbers,
    Spec,
    refuse,
    setting,
)

# The cost bounds of the edge-popup baseline (`propensity.pruning.edge_popup.edge_popup`'s
# keyword arguments), each checked where the group gives it.
EDGE_POPUP: dict[str, Check] = {
    "densities": Numbers(lambda v: 0 < v <= 1, "must be a list of densities in (0, 1]",
                         "e.g. pruning.edge_popup.densities=[0.5,0.2]"),
    "epochs": Number(1, 10_000, "e.g. pruning.edge_popup.epochs=2", integer=True),
    "lr": Number(0, float("inf"), "e.g. pruning.edge_popup.lr=0.1", low_open=True),
    "batch_size": Number(1, MAX_COUNT, "e.g. pruning.edge_popup.batch_size=256", integer=True),
}


def _edge_popup(key: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise refuse(key, value, "must be a group of settings", f"e.g. {key}.epochs=2")
    for name, given in value.items():
        if name not in EDGE_POPUP:
            close = difflib.get_close_matches(str(name), EDGE_POPUP, n=1)
            fix = f"did you mean {key}.{close[0]}?" if close else f"use one of {', '.join(EDGE_POPUP)}"
            raise refuse(f"{key}.{name}", given, "is not a setting of edge_popup", fix)
        EDGE_POPUP[name](f"{key}.{name}", given)


@dataclass(frozen=True)
class PruningSettings(Spec):
    """How a trained model is pruned and how its effective density is read."""

    group: ClassVar[str] = "pruning"
    method: str = setting("magnitude")
    baselines: tuple[str, ...] = setting((), Labels("e.g. pruning.baselines=[random]", "method names"))
    schedule: str = setting("original", Choice(SCHEDULES))
    step: float = setting(0.02, Number(*STEP_RANGE, "e.g. pruning.step=0.02", low_open=True))
    # The 'remaining' schedule shrinks geometrically and reaches no floor of 0.
    min_density: float = setting(0.01, Number(0, 1, "the floor of the remaining schedule, e.g. 0.01",
                                              low_open=True, high_open=True))
    threshold: float = setting(0.05)  # its range depends on threshold_mode: __post_init__
    threshold_mode: str = setting("absolute", Choice(THRESHOLD_MODES))
    thresholds: tuple[float, ...] = setting((0.01, 0.02, 0.05, 0.1))  # as threshold
    eval_test: bool = setting(False, Flag())
    mask_seeds: int = setting(3, Number(1, 1000, "masks averaged per level, e.g. pruning.mask_seeds=3",
                                        integer=True))
    levels_at_once: int = setting(1, Number(
        0, 10_000, "levels per forward, 0 = as many as fit in memory, e.g. pruning.levels_at_once=8",
        integer=True))
    edge_popup: Mapping[str, Any] = setting(check=_edge_popup, default_factory=dict)
    # Training examples a gradient score (SNIP, OBD) reads, and the seed that draws them.
    score_samples: int = setting(256, Number(1, MAX_COUNT, "examples SNIP and OBD score on, "
                                             "e.g. pruning.score_samples=256", integer=True))
    score_seed: int = setting(0, Number(0, MAX_SEED, "the seed that draws them, e.g. pruning.score_seed=0",
                                        integer=True))

    def check_together(self) -> None:
        # absolute: accuracy points in [0, 1]; relative: a fraction of the unpruned accuracy;
        # loss: an increase of the validation loss, unbounded.
        high = float("inf") if self.threshold_mode == "loss" else 1.0
        Number(0, high, "e.g. pruning.threshold=0.05", low_open=True, high_open=True)(
            "pruning.threshold", self.threshold)
        Numbers(lambda v: 0 < v < high, f"must be a list of numbers in (0, {high:g}) for "
                f"threshold_mode={self.threshold_mode}", "e.g. pruning.thresholds=[0.01,0.02,0.05,0.1]")(
            "pruning.thresholds", self.thresholds)
        if self.method in self.baselines or len(set(self.baselines)) != len(self.baselines):
            raise refuse("pruning.baselines", self.baselines, "repeats a method",
                         "list each method once, not pruning.method again")

    @property
    def methods(self) -> tuple[str, ...]:
        """The method, then its baselines: the order of ``trajectory.csv`` and the report."""
        return (self.method, *self.baselines)
