"""What a run's record says once it is fitted and measured (sections 3.1-3.2).

``finished`` when its stop rule's target was met, ``max_epochs_reached`` when the bound came
first (still pruned and collected, but left out of the report unless asked for),
``diverged`` when its training loss stopped being finite, ``untrained`` when its unpruned
validation accuracy is within `UNTRAINED_MARGIN` of chance: such a model's trajectory
measures noise, so it gets no effective density.
"""

from __future__ import annotations

from propensity.cohort.fit import FitResult
from propensity.engines.epoch_report import history_frame
from propensity.engines.stopping import StopRule
from propensity.storage.records import RunRecord

UNTRAINED_MARGIN = 0.02


def record_fit(record: RunRecord, result: FitResult, rule: StopRule) -> None:
    """The training fields of `record` from its fit: stop epoch, whether the rule's target was
    met, epochs trained, and the losses and accuracies of the stop epoch's history row."""
    record.stop_epoch, record.stop_target_met = rule.stop_epoch, rule.target_met
    record.epochs_trained = result.epochs_trained
    if result.status == "diverged":
        record.status, record.error = "diverged", result.error
        return
    best = history_frame(result.history).set_index("epoch").loc[rule.stop_epoch]
    record.train_loss, record.train_acc = float(best.train_loss), float(best.train_acc)
    record.val_loss, record.val_acc = float(best.val_loss), float(best.val_acc)


def conclude(record: RunRecord, num_classes: int) -> None:
    """The status of a fitted and measured run: finished, max_epochs_reached or untrained;
    the record keeps `num_classes`, so the report knows the run's chance accuracy."""
    record.num_classes = num_classes
    record.status = "finished" if record.stop_target_met else "max_epochs_reached"
    mark_if_untrained(record, num_classes)


def untrained(record: RunRecord, num_classes: int) -> bool:
    """Unpruned validation accuracy within `UNTRAINED_MARGIN` of chance (1/classes)."""
    base = record.base_val_acc if record.base_val_acc is not None else record.val_acc
    return base is not None and base <= 1 / num_classes + UNTRAINED_MARGIN


def mark_if_untrained(record: RunRecord, num_classes: int) -> None:
    """A model left at chance has no effective density: its trajectory would measure noise."""
    if not untrained(record, num_classes):
        return
    record.status = "untrained"
    record.error = (f"unpruned validation accuracy {fmt(record.base_val_acc)} is at most "
                    f"{UNTRAINED_MARGIN:g} above chance (1/{num_classes}): no ED")
    record.effective_density = record.ed_last_pass = record.unpruned_weights = None
    record.unit_effective_density = None
    record.ed_by_threshold, record.ed_by_method = {}, {}


def fmt(value: float | None) -> str:
    """A metric for a log line: three decimals, or ``n/a`` when it was not measured."""
    return "n/a" if value is None else f"{value:.3f}"
