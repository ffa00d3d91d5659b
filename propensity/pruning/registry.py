"""The pruning methods, by name: the one list that configs, validation, the callback and the report read.

The paper prunes layer-wise by magnitude (section 3.2); its related and future work (sections 2
and 6) ask how the effective density depends on that choice, so random masks, one global
magnitude ranking and edge-popup are registered beside it. Each entry maps a name to the
function that measures that method's trajectory on a trained model. Adding a method is one
such function and one line in `METHODS`; its name is then valid in ``pruning.method`` and
``pruning.baselines`` and appears in the report's methods comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from propensity.pruning.edge_popup import edge_popup
from propensity.pruning.measure import measure_trajectory
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


# (trained model, data splits, the ``pruning`` config as a mapping) -> trajectory
TrajectoryOf = Callable[[nn.Module, Splits, Mapping[str, Any]], Trajectory]


@dataclass(frozen=True)
class PruningMethod:
    """How one method measures its trajectory, and whether it needs the training split."""

    trajectory: TrajectoryOf
    needs_train_split: bool = False


def ranked(method: str) -> TrajectoryOf:
    """A method that ranks weights once and prunes by the schedule (`masks.RANKINGS`)."""

    def trajectory(model: nn.Module, splits: Splits, settings: Mapping[str, Any]) -> Trajectory:
        return measure_trajectory(
            model,
            splits.x_val,
            splits.y_val,
            step=settings["step"],
            schedule=settings["schedule"],
            min_density=settings["min_density"],
            method=method,  # type: ignore[arg-type]
            x_test=splits.x_test,
            y_test=splits.y_test,
            mask_seeds=range(settings["mask_seeds"]),
            progress=bool(settings.get("progress", False)),
            levels_at_once=int(settings.get("levels_at_once", 1)),
        )

    return trajectory


def edge_popup_scores(model: nn.Module, splits: Splits, settings: Mapping[str, Any]) -> Trajectory:
    """Edge-popup score training at ``settings["edge_popup"]``'s densities (section 6)."""
    if splits.x_train is None or splits.y_train is None:
        raise ValueError("edge_popup trains scores: pass the training split (x_train, y_train)")
    return edge_popup(
        model, splits.x_train, splits.y_train, splits.x_val, splits.y_val, **settings["edge_popup"]
    )


# Display order everywhere: the paper's method first, then the baselines.
METHODS: dict[str, PruningMethod] = {
    "magnitude": PruningMethod(ranked("magnitude")),
    "random": PruningMethod(ranked("random")),
    "global_magnitude": PruningMethod(ranked("global_magnitude")),
    "edge_popup": PruningMethod(edge_popup_scores, needs_train_split=True),
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
REFERENCE = "magnitude"


def method(name: str) -> PruningMethod:
    """The registered method `name`, or a one-line error listing the registered ones."""
    if name not in METHODS:
        raise ValueError(f"pruning method {name!r} is unknown; use one of {METHOD_NAMES}")
    return METHODS[name]
