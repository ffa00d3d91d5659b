"""A pruning criterion: a score and an allocation across layers, beyond magnitude (section 6).

The paper finds the subnetwork by layer-wise magnitude (section 3.2) and says it "is unlikely
to find the optimal subnetwork of a given size" (section 6). A `Criterion` names another way:
which weights matter (`propensity.pruning.scores`) and how a level's budget is spread over the
layers (`propensity.pruning.allocation`); ``shuffled`` keeps the criterion's per-layer counts
and draws the positions at random, the control that separates what a criterion gains by its
allocation from what it gains by choosing the weights. Each criterion is one line of the
registry (`propensity.pruning.registry`), so single runs and cohorts measure it alike.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass

from torch import nn

from propensity.pruning.allocation import ALLOCATIONS, allocate, shuffled
from propensity.pruning.masks import PruningPlan
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.scores import SCORES, LayerScores, Split, sample, scores
from propensity.pruning.settings import PruningSettings


@dataclass(frozen=True)
class Criterion:
    """Rank by `score`, spread by `allocation`; `shuffled`: the same counts, random positions."""

    score: str
    allocation: str = "layerwise"
    shuffled: bool = False

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"score {self.score!r} is unknown; use one of {tuple(SCORES)}")
        if self.allocation not in ALLOCATIONS:
            raise ValueError(f"allocation {self.allocation!r} is unknown; use one of {ALLOCATIONS}")

    @property
    def needs_train_split(self) -> bool:
        """Whether the score reads training samples (SNIP, OBD, OBD's Gauss-Newton form)."""
        return SCORES[self.score].needs_train_split

    def refusal(self, model: nn.Module, input_shape: Sequence[int]) -> str | None:
        """Why the score cannot take `model` (``problem; fix``), or None."""
        refusal = SCORES[self.score].refusal
        return None if refusal is None else refusal(model, input_shape)


def score_data(
    score: str, splits: Sequence[tuple[Split | None, Split]], settings: PruningSettings
) -> list[Split | None]:
    """What score `score` reads of each model's (train, val) splits: a seeded sample of
    ``pruning.score_samples`` training examples for a gradient score, the validation split
    (its shape) otherwise."""
    if not SCORES[score].needs_train_split:
        return [val for _, val in splits]
    if any(train is None for train, _ in splits):
        raise ValueError(f"the {score} score reads training samples: pass the training split")
    return [sample(*train, settings.score_samples, settings.score_seed)  # type: ignore[misc]
            for train, _ in splits]


def criterion_plans(
    criterion: Criterion,
    name: str,
    models: Sequence[nn.Module],
    splits: Sequence[tuple[Split | None, Split]],
    settings: PruningSettings,
    seeds: Sequence[int],
    computed: MutableMapping[str, list[LayerScores]] | None = None,
) -> list[list[PruningPlan]]:
    """``plans[seed][member]`` of `criterion` (registered as `name`) for each model.

    ``splits[k]`` is model k's (train or None, validation). Scores are computed once for all
    models (batched) and kept in `computed` by score name, so the criteria of one score and
    their shuffled controls share one pass; a non-shuffled criterion has one plan per model
    whatever the seeds.
    """
    if computed is None:
        computed = {}
    if criterion.score not in computed:
        computed[criterion.score] = scores(criterion.score, models,
                                           score_data(criterion.score, splits, settings))
    per_model = computed[criterion.score]
    plans = [allocate(criterion.allocation, [n for n, _ in prunable_weights(model)], layer_scores,
                      settings.step, settings.schedule, settings.min_density, name)  # type: ignore[arg-type]
             for model, layer_scores in zip(models, per_model, strict=True)]
    if not criterion.shuffled:
        return [plans]
    return [[shuffled(p, seed) for p in plans] for seed in seeds]
