"""Estimate the learning coefficient after `fit`, for a researcher's own Trainer; thin glue.

Beyond the paper (its section 5 proposes the measure): the science is `propensity.llc` (a
pure function over a model and tensors), which the recipe calls for every trained run too.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L

from propensity.engines.loggers import log_llc, say_llc
from propensity.llc import LLCSettings, estimate_llc

log = logging.getLogger("propensity")


class LLCEstimation(L.Callback):
    """After `fit`, estimate the LLC of the trained weights on ``trainer.datamodule``'s training
    split, write ``llc_traces.csv`` to `out_dir` and keep the record's ``llc_*`` fields in
    `summary`. Place it after any callback that prunes or restores weights at ``on_fit_end``."""

    def __init__(self, out_dir: str | Path, **settings: Any) -> None:
        self.out_dir = Path(out_dir)
        self.settings = LLCSettings(**{k: v for k, v in settings.items() if k != "name"})
        self.summary: dict[str, Any] = {}

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm = trainer.datamodule
        started = time.perf_counter()
        estimate = estimate_llc(getattr(pl_module, "model", pl_module), dm.x_train, dm.y_train,
                                **vars(self.settings))
        seconds = time.perf_counter() - started
        estimate.save_traces(self.out_dir)
        self.summary = estimate.record_fields()
        say_llc(estimate.mean, estimate.std, len(estimate.per_chain), estimate.nbeta, seconds,
                "" if estimate.valid else estimate.reason)
        log_llc(trainer.loggers, self.summary, estimate.mean, estimate.std, seconds)
