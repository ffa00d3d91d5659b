"""The stop rules of section 3.1 ('Stopping Criteria'): one definition for both engines.

A rule is asked once after every epoch with that epoch's metrics (the row of ``history.csv``)
and answers with a `Verdict`; it keeps `stop_epoch` (1-based: the number of epochs trained
when it fired, or the epoch it restores) and whether its target was met, for ``record.json``.
Every rule is bounded by ``stop.max_epochs``. The Lightning engine adapts a rule to a
callback, the stacked engine asks one per member; neither knows the rules by name.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Verdict:
    """After an epoch: `stop` (train no further) and `best` (keep this epoch's weights, to be
    restored when fitting ends)."""

    stop: bool = False
    best: bool = False


class StopRule:
    """A stop rule; its state (`state_dict`) is checkpointed for resumption."""

    # Whether fitting ends by restoring the weights of the epoch the rule chose.
    restores_best: ClassVar[bool] = False

    def __init__(self) -> None:
        self.stop_epoch: int | None = None
        self.target_met: bool = False

    def after_epoch(self, epoch: int, metrics: Mapping[str, float], max_epochs: int) -> Verdict:
        """The verdict after `epoch` (1-based) of at most `max_epochs`, given its metrics."""
        raise NotImplementedError

    def fit_ended(self, restored: bool) -> None:
        """Fitting ended; `restored` says the chosen epoch's weights were restored."""

    @property
    def stopped_early(self) -> bool:
        """True once the rule has stopped training (a resumed run must not train on)."""
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"stop_epoch": self.stop_epoch, "target_met": self.target_met}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.stop_epoch = state["stop_epoch"]
        self.target_met = state["target_met"]


class TrainForEpochs(StopRule):
    """``stop=epochs``: train exactly ``max_epochs``."""

    def after_epoch(self, epoch: int, metrics: Mapping[str, float], max_epochs: int) -> Verdict:
        self.stop_epoch = epoch
        self.target_met = epoch >= max_epochs
        return Verdict()


class StopAtTrainLoss(StopRule):
    """``stop=train_loss``: stop after the first epoch whose mean training loss <= `target`.

    The paper trains its MLPs on MNIST to a loss of 0.2 (section 3.1).
    """

    def __init__(self, target: float = 0.2) -> None:
        super().__init__()
        self.target = target

    def after_epoch(self, epoch: int, metrics: Mapping[str, float], max_epochs: int) -> Verdict:
        self.stop_epoch = epoch
        if metrics["train_loss"] <= self.target:
            self.target_met = True
        return Verdict(stop=self.target_met)

    @property
    def stopped_early(self) -> bool:
        return self.target_met


class RestoreBestValLoss(StopRule):
    """``stop=val_loss_min``: train ``max_epochs``, then restore the epoch of lowest val loss.

    The paper determines the minimum retrospectively after a fixed budget (section 3.1); the
    engine keeps the best epoch's weights and restores them when fitting ends, before the
    pruning sweep and the test evaluation see the model.
    """

    restores_best = True

    def __init__(self) -> None:
        super().__init__()
        self.best_val_loss = math.inf

    def after_epoch(self, epoch: int, metrics: Mapping[str, float], max_epochs: int) -> Verdict:
        if metrics["val_loss"] < self.best_val_loss:
            self.best_val_loss = metrics["val_loss"]
            self.stop_epoch = epoch
            return Verdict(best=True)
        return Verdict()

    def fit_ended(self, restored: bool) -> None:
        if restored:
            self.target_met = True

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "best_val_loss": self.best_val_loss}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.best_val_loss = state["best_val_loss"]
