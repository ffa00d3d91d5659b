"""Estimates the learning coefficient once training and pruning have ended; thin glue.

Beyond the paper (its section 5 proposes the measure): the science lives in `propensity.llc`
(a pure function over a model and tensors). This callback feeds it the training split, writes
every chain's loss trace to ``llc_traces.csv`` and reports the estimate to the console and
the experiment loggers; `summary` holds the record's ``llc_*`` fields.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from propensity.atomic import write_text_atomic
from propensity.llc import estimate_llc

log = logging.getLogger("propensity")


class LLCEstimation(L.Callback):
    """After `fit`, estimate the LLC of the trained weights on the training split.

    Place it after the pruning sweep: Lightning calls callbacks in list order, and the sweep
    restores the trained weights bitwise, so the estimate is of the trained, unpruned model.
    """

    def __init__(self, out_dir: str | Path, **settings: Any) -> None:
        self.out_dir = Path(out_dir)
        self.settings = {k: v for k, v in settings.items() if k != "name"}
        self.summary: dict[str, Any] = {}

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        started = time.perf_counter()
        estimate = estimate_llc(pl_module.model, dm.x_train, dm.y_train, **self.settings)
        seconds = time.perf_counter() - started
        write_text_atomic(self.out_dir / "llc_traces.csv", estimate.traces_frame().to_csv(index=False))
        self.summary = {  # NaN (a chain diverged) is recorded as null, which JSON can hold
            "llc_mean": _finite_or_none(estimate.mean),
            "llc_std": _finite_or_none(estimate.std),
            "llc_valid": estimate.valid,
            "llc_reason": estimate.reason or None,
        }
        log.info(
            "learning coefficient %.2f ± %.2f over %d chains (nbeta %.1f, %.1fs)%s",
            estimate.mean, estimate.std, len(estimate.per_chain), estimate.nbeta, seconds,
            "" if estimate.valid else f": INVALID, {estimate.reason}",
        )
        metrics = {"llc/mean": estimate.mean, "llc/std": estimate.std,
                   "llc/valid": float(estimate.valid), "llc/seconds": seconds}
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.experiment.summary.update({**self.summary, "llc_seconds": seconds})
            elif isinstance(logger, CSVLogger):
                logger.log_metrics(metrics)
                logger.save()


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None
