"""The pruning methods, by name: the one list that configs, validation, the recipe and the report read.

The paper prunes layer-wise by magnitude (section 3.2); its related and future work (sections 2
and 6) ask how the effective density depends on that choice, so random masks, one global
magnitude ranking and edge-popup are registered beside it. A method says what it can do, and
every caller relies on that alone, never on a method's name:

- a method that *plans* ranks the trained weights once and fixes every level's mask
  (a `PruningPlan`); any sweep can then evaluate the plan: one model level by level
  (`propensity.pruning.measure`), or the members of a cohort batched, several levels at once;
- a method that *measures* its own trajectory (it trains, as edge-popup trains scores) is
  given one trained model and its splits at a time.

Adding a method is one such function and one line in `METHODS`; its name is then valid in
``pruning.method`` and ``pruning.baselines`` and appears in the report's methods comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from propensity.pruning.edge_popup import edge_popup
from propensity.pruning.masks import PruningPlan, plan
from propensity.pruning.settings import PruningSettings
from propensity.pruning.trajectory import Trajectory


@dataclass(frozen=True)
class Splits:
    """The tensors a method may read, on the model's device; train only for methods that train."""

    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    x_train: torch.Tensor | None = None
    y_train: torch.Tensor | None = None


# (trained model, settings, mask seed) -> every level's masks
PlanOf = Callable[[nn.Module, PruningSettings, int], PruningPlan]
# (trained model, data splits, settings) -> trajectory
TrajectoryOf = Callable[[nn.Module, Splits, PruningSettings], Trajectory]


@dataclass(frozen=True)
class PruningMethod:
    """What a method does: plan masks (`plan`) or measure its trajectory (`trajectory`)."""

    plan: PlanOf | None = None
    trajectory: TrajectoryOf | None = None
    needs_train_split: bool = False
    random: bool = False  # its plans are drawn: averaged over ``pruning.mask_seeds`` seeds

    def __post_init__(self) -> None:
        if (self.plan is None) == (self.trajectory is None):
            raise ValueError("a pruning method either plans masks or measures its trajectory")

    def seeds(self, settings: PruningSettings) -> Sequence[int]:
        """The mask seeds whose trajectories are averaged: ``pruning.mask_seeds`` of them for a
        random method, one otherwise."""
        if not self.random:
            return [0]
        if settings.mask_seeds < 1:
            raise ValueError(f"pruning.mask_seeds={settings.mask_seeds}: a random method needs at "
                             "least one; e.g. pruning.mask_seeds=3")
        return range(settings.mask_seeds)


def ranked(ranking: str) -> PlanOf:
    """A method that ranks weights once and prunes by the schedule (`masks.RANKINGS`)."""

    def plan_of(model: nn.Module, settings: PruningSettings, seed: int) -> PruningPlan:
        return plan(model, ranking, settings.step, settings.schedule,  # type: ignore[arg-type]
                    settings.min_density, seed)

    return plan_of


def edge_popup_scores(model: nn.Module, splits: Splits, settings: PruningSettings) -> Trajectory:
    """Edge-popup score training at ``pruning.edge_popup``'s densities (section 6)."""
    if splits.x_train is None or splits.y_train is None:
        raise ValueError("edge_popup trains scores: pass the training split (x_train, y_train)")
    return edge_popup(
        model, splits.x_train, splits.y_train, splits.x_val, splits.y_val, **settings.edge_popup
    )


# Display order everywhere: the paper's method first, then the baselines.
METHODS: dict[str, PruningMethod] = {
    "magnitude": PruningMethod(plan=ranked("magnitude")),
    "random": PruningMethod(plan=ranked("random"), random=True),
    "global_magnitude": PruningMethod(plan=ranked("global_magnitude")),
    "edge_popup": PruningMethod(trajectory=edge_popup_scores, needs_train_split=True),
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
REFERENCE = "magnitude"


def method(name: str) -> PruningMethod:
    """The registered method `name`, or a one-line error listing the registered ones."""
    if name not in METHODS:
        raise ValueError(f"pruning method {name!r} is unknown; use one of {METHOD_NAMES}")
    return METHODS[name]
