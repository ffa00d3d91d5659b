"""The pruning methods, by name: the one list that configs, validation, the recipe and the report read.

The paper prunes layer-wise by magnitude (section 3.2); its related and future work (sections 2
and 6) ask how the effective density depends on that choice, so random masks, one global
magnitude ranking, edge-popup, the criteria beyond magnitude (a score crossed with an
allocation across layers, `propensity.pruning.criteria`), their shuffled controls and whole-unit
pruning are registered beside it. A method says what it can do, and every caller relies on that
alone, never on a method's name:

- a method that *plans* ranks the trained weights once and fixes every level's mask
  (a `PruningPlan`); any sweep can then evaluate the plan: one model level by level
  (`propensity.pruning.measure`), or the members of a cohort batched, several levels at once;
- a *criterion* plans too, from scores computed once for all the members of a cohort
  (batched; a gradient score reads ``pruning.score_samples`` training examples), and its
  plans are walked as any plan;
- a method that *measures* its own trajectory (it trains, as edge-popup trains scores, or it
  removes whole units) is given one trained model and its splits at a time.

A method that cannot take every model says why for a given one (`refusal`: what its score
declares it cannot take, then the model-dependent part of the method run on the untrained
model), and the pre-flight asks before anything trains (OBD's exact Hessian diagonal takes only
networks piecewise linear in their weights; ``obd_gn``, its Gauss-Newton form, any of dense and
convolutional layers).

Names: a criterion is ``<score>`` at the paper's layer-wise allocation, ``<score>_<allocation>``
otherwise (``global_magnitude`` keeps its older name); ``<criterion>_shuffled`` has that
criterion's per-layer counts at every level and random positions. The layer-wise criteria's
control is ``random`` and the ERK criteria's ``random_erk``: their counts do not depend on
the score.

Adding a method is one such function and one line in `METHODS`; its name is then valid in
``pruning.method`` and ``pruning.baselines`` and appears in the report's methods comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from propensity.pruning.criteria import Criterion
from propensity.pruning.edge_popup import edge_popup
from propensity.pruning.masks import PruningPlan, plan
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.scores import scores
from propensity.pruning.settings import PruningSettings
from propensity.pruning.trajectory import Trajectory
from propensity.pruning.units import unit_groups, unit_trajectory
from propensity.specs import Choice, refuse


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
    """What a method does: plan masks (`plan`, or a `criterion`'s plans) or measure its
    trajectory (`trajectory`)."""

    plan: PlanOf | None = None
    trajectory: TrajectoryOf | None = None
    needs_train_split: bool = False
    random: bool = False  # its plans are drawn: averaged over ``pruning.mask_seeds`` seeds
    criterion: Criterion | None = None
    # The model-dependent part of a method that measures its own trajectory, run on an
    # untrained model before anything trains; raises where the method cannot take the model.
    takes: Callable[[nn.Module], object] | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.plan, self.trajectory, self.criterion)) != 1:
            raise ValueError("a pruning method plans masks, is a criterion or measures its trajectory")

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


def units(model: nn.Module, splits: Splits, settings: PruningSettings) -> Trajectory:
    """Whole hidden units by the norm of their incoming weights, on the weight schedule's
    grid of unit fractions (`propensity.pruning.units`)."""
    data = [(splits.x_val, splits.y_val)]
    if settings.eval_test and splits.x_test is not None and splits.y_test is not None:
        data.append((splits.x_test, splits.y_test))
    return unit_trajectory(model, data, settings.step, settings.schedule,  # type: ignore[arg-type]
                           settings.min_density)


def criterion(score: str, allocation: str = "layerwise", shuffled: bool = False) -> PruningMethod:
    """A criterion as a method: a shuffled control is drawn, a gradient score reads the train split."""
    c = Criterion(score, allocation, shuffled)
    return PruningMethod(criterion=c, needs_train_split=c.needs_train_split, random=shuffled)


# Display order everywhere: the paper's method first, then the baselines.
METHODS: dict[str, PruningMethod] = {
    "magnitude": PruningMethod(plan=ranked("magnitude")),
    "random": PruningMethod(plan=ranked("random"), random=True),
    "global_magnitude": PruningMethod(plan=ranked("global_magnitude")),
    "edge_popup": PruningMethod(trajectory=edge_popup_scores, needs_train_split=True),
    # Criteria beyond magnitude (section 6): other scores at the paper's layer-wise allocation ...
    "snip": criterion("snip"),
    "obd": criterion("obd"),  # exact: refuses a model not piecewise linear in its weights
    "obd_gn": criterion("obd_gn"),  # OBD's Gauss-Newton diagonal: any model of dense and conv layers
    "synflow": criterion("synflow"),
    # ... every score with the other allocations ...
    "snip_global": criterion("snip", "global"),
    "obd_global": criterion("obd", "global"),
    "synflow_global": criterion("synflow", "global"),
    "magnitude_lamp": criterion("magnitude", "lamp"),
    "snip_lamp": criterion("snip", "lamp"),
    "obd_lamp": criterion("obd", "lamp"),
    "synflow_lamp": criterion("synflow", "lamp"),
    "magnitude_erk": criterion("magnitude", "erk"),
    "snip_erk": criterion("snip", "erk"),
    "obd_erk": criterion("obd", "erk"),
    "synflow_erk": criterion("synflow", "erk"),
    # ... and the shuffled controls: each allocation's counts, random positions
    "random_erk": criterion("magnitude", "erk", shuffled=True),
    "global_magnitude_shuffled": criterion("magnitude", "global", shuffled=True),
    "snip_global_shuffled": criterion("snip", "global", shuffled=True),
    "obd_global_shuffled": criterion("obd", "global", shuffled=True),
    "synflow_global_shuffled": criterion("synflow", "global", shuffled=True),
    "magnitude_lamp_shuffled": criterion("magnitude", "lamp", shuffled=True),
    "snip_lamp_shuffled": criterion("snip", "lamp", shuffled=True),
    "obd_lamp_shuffled": criterion("obd", "lamp", shuffled=True),
    "synflow_lamp_shuffled": criterion("synflow", "lamp", shuffled=True),
    # Whole units instead of weights (section 2, Casper et al. 2021)
    "units": PruningMethod(trajectory=units, takes=unit_groups),
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
REFERENCE = "magnitude"
# Each deterministic criterion's control: random positions at its per-layer counts.
CONTROLS: dict[str, str] = {
    "magnitude": "random",
    "global_magnitude": "global_magnitude_shuffled",
    **{name: "random" if c.allocation == "layerwise" else "random_erk" if c.allocation == "erk"
       else f"{name}_shuffled"
       for name, m in METHODS.items() if (c := m.criterion) is not None and not c.shuffled},
}


def method(name: str) -> PruningMethod:
    """The registered method `name`, or a one-line error listing the registered ones."""
    if name not in METHODS:
        raise ValueError(f"pruning method {name!r} is unknown; use one of {METHOD_NAMES}")
    return METHODS[name]


def refusal(
    name: str, model: nn.Module, input_shape: Sequence[int], num_classes: int, settings: PruningSettings,
) -> str | None:
    """Why method `name` cannot prune `model`, or None when it can: the part of the method
    that depends on the model's structure is run on the untrained model (a criterion's score
    on two random samples, a trajectory method's `takes`), so a method refuses the models
    its own code refuses, before anything trains."""
    entry = method(name)
    if not prunable_weights(model):
        return "it has no Linear or Conv2d weights to prune"
    try:
        if entry.criterion is not None:
            declared = entry.criterion.refusal(model, input_shape)  # what the score says it cannot take
            if declared is not None:
                return declared
            x = torch.randn(2, *input_shape)
            y = torch.randint(num_classes, (2,))
            scores(entry.criterion.score, [model], [(x, y)])
        elif entry.takes is not None:
            entry.takes(model)
    except (ValueError, TypeError, RuntimeError, NotImplementedError) as error:
        return (str(error).strip().splitlines() or [type(error).__name__])[0]
    return None


def refuse_unregistered(settings: PruningSettings) -> None:
    """Raise `SettingError`, in one line, when ``pruning.method`` or a baseline names no
    registered method: the names are the registry's, so they are checked here."""
    Choice(METHOD_NAMES)("pruning.method", settings.method)
    if any(name not in METHODS for name in settings.baselines):
        raise refuse("pruning.baselines", settings.baselines, f"must be a list of {', '.join(METHOD_NAMES)}",
                     "e.g. pruning.baselines=[random]")
