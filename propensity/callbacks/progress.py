"""One log line per epoch, so a long run says where it is and how long it has left."""

from __future__ import annotations

import logging
import time

import lightning as L

from propensity.console import duration

log = logging.getLogger("propensity")


def time_left(elapsed_s: float, epochs_done: int, epochs_to_go: int) -> float:
    """Seconds left at the mean epoch time so far: ``elapsed / done * to_go``.

    An upper bound for a stop rule that can fire early (``stop.max_epochs`` is its bound).
    """
    if epochs_done < 1:
        raise ValueError(f"epochs_done={epochs_done} must be >= 1")
    return elapsed_s / epochs_done * max(epochs_to_go, 0)


class EpochProgress(L.Callback):
    """Logs ``epoch 12/100: train loss 0.412, val acc 0.913, 3s elapsed, <=22s left`` at INFO.

    The time left is to ``max_epochs`` at this session's mean epoch time (a resumed run
    counts from where it resumed); ``progress=false`` turns the lines off.
    """

    def __init__(self) -> None:
        self._started: float | None = None
        self._first_epoch = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()
        self._first_epoch = trainer.current_epoch

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._started is None:
            return
        epoch = trainer.current_epoch + 1
        max_epochs = trainer.max_epochs or epoch
        elapsed = time.perf_counter() - self._started
        left = time_left(elapsed, epoch - self._first_epoch, max_epochs - epoch)
        metrics = pl_module.epoch_metrics()
        log.info("epoch %d/%d: train loss %.3f, val acc %s, %s elapsed, <=%s left",
                 epoch, max_epochs, metrics.get("train_loss", float("nan")),
                 f"{metrics['val_acc']:.3f}" if "val_acc" in metrics else "n/a",
                 duration(elapsed), duration(left))
