"""One level of a retraining branch: where its models start, and the row it writes.

`imp_level_starts` gives, for one IMP level, the masks and starting state of IMP itself and
of each control (Frankle and Carbin 2019, section 2): everything an engine needs to fit the
level's members, so the glue around it only chooses levels and saves results.
`regime_trajectory` turns the levels' results into the `Trajectory` every ED reads
(section 3.2), with the retraining's own columns (training metrics, epochs) beside it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from propensity.models.init import Scheme
from propensity.pruning.trajectory import Trajectory
from propensity.retrain.controls import derived_seed, random_masks, reinitialized_state
from propensity.retrain.identity import branch_name
from propensity.retrain.rewind import State, masked_state
from propensity.retrain.settings import IMPSettings


@dataclass(frozen=True)
class LevelStart:
    """A branch's start at one level: the masks it trains under (True = kept, keyed by
    ``model.named_parameters()`` names) and the state its model starts from."""

    branch: str
    masks: dict[str, torch.Tensor]
    state: State


def imp_level_starts(
    template: nn.Module,
    masks: Mapping[str, torch.Tensor],
    rewind_state: Mapping[str, torch.Tensor],
    settings: IMPSettings,
    *,
    scheme: Scheme,
    init_seed: int,
) -> list[LevelStart]:
    """IMP's start at a level with `masks` (`propensity.retrain.imp.imp_masks`), then each
    control's in `settings.controls` order.

    ``imp``: `rewind_state` (the dense run at ``settings.rewind_iteration``) under `masks`;
    ``imp_reinit``: the same masks over fresh weights of the run's `scheme`;
    ``imp_random``: `rewind_state` under random masks with `masks`' per-layer counts.
    `template` is a model of the run's architecture (its weights are not read).
    """
    masks = dict(masks)
    starts = [LevelStart(branch_name(settings), masks, masked_state(rewind_state, masks))]
    for control in settings.controls:
        if control == "reinit":
            fresh = reinitialized_state(template, scheme, init_seed, settings.control_seed)
            starts.append(LevelStart(branch_name(settings, control), masks, masked_state(fresh, masks)))
        else:
            shuffled = random_masks(masks, derived_seed(control, init_seed, settings.control_seed))
            starts.append(LevelStart(branch_name(settings, control), shuffled,
                                     masked_state(rewind_state, shuffled)))
    return starts


@dataclass(frozen=True)
class LevelResult:
    """What one level of a branch measured: its weights, its retrained model's metrics and
    the epochs it trained (level 0: the trained run's own, not retrained)."""

    level: int
    remaining_weights: int
    val_acc: float
    val_loss: float
    train_acc: float
    train_loss: float
    epochs: int
    test_acc: float | None = None
    test_loss: float | None = None


def regime_trajectory(regime: str, results: Sequence[LevelResult]) -> Trajectory:
    """The levels of one branch as a `Trajectory` (``method`` is the regime's name), sorted by
    level, with ``train_acc``, ``train_loss`` and ``epochs`` as extra columns; test columns
    when every level measured them. Level 0, the trained model, must be among them: it is
    the accuracy every level is compared with."""
    rows = sorted(results, key=lambda r: r.level)
    levels = [r.level for r in rows]
    if not rows or levels[0] != 0:
        raise ValueError(f"the {regime} levels {levels} lack level 0 (the trained model); "
                         "add its row, the accuracy the threshold is measured from")
    if len(set(levels)) != len(levels):
        raise ValueError(f"the {regime} levels {levels} repeat a level; keep one row per level")
    tested = all(r.test_acc is not None and r.test_loss is not None for r in rows)
    total = rows[0].remaining_weights
    return Trajectory(
        level=levels,
        density=[r.remaining_weights / total for r in rows],
        remaining_weights=[r.remaining_weights for r in rows],
        val_acc=[r.val_acc for r in rows],
        val_loss=[r.val_loss for r in rows],
        test_acc=[r.test_acc for r in rows] if tested else None,  # type: ignore[misc]
        test_loss=[r.test_loss for r in rows] if tested else None,  # type: ignore[misc]
        method=regime,
        extra={"train_acc": [r.train_acc for r in rows], "train_loss": [r.train_loss for r in rows],
               "epochs": [float(r.epochs) for r in rows]},
    )
