"""The experiment loggers: one set-up for both engines, and what they are told after training.

A run's loggers (``logger=csv``: its run folder; ``logger=wandb``: one W&B run per run, named
by its run key; ``logger=none``) are opened by the recipe for each member and handed to the
engine that fits it; the epoch report logs each epoch to them, and the measurements' results
(the pruning trajectory, the learning coefficient, the test metrics) are logged here, in one
shape whichever engine fitted the run. W&B never blocks on the network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from propensity.config.settings import RunSettings
from propensity.storage.records import RunRecord

log = logging.getLogger(__name__)
console = logging.getLogger("propensity")
_said_offline = False


def wandb_logger(
    save_dir: str | Path,
    *,
    project: str = "propensity",
    entity: str | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    mode: str | None = None,
    run_name: str | None = None,
    job_type: str = "train",
    log_model: bool = False,
    **_: object,
) -> WandbLogger:
    """Lightning's WandbLogger, offline unless an API key is configured.

    `mode` (or ``WANDB_MODE``) wins when set; otherwise the run is online only if
    ``WANDB_API_KEY`` is set or ``wandb login`` stored a key, and offline (said once per
    process) if not. Runs are grouped by experiment name so the dashboard can group by width.
    W&B writes its run folders to ``<save_dir>/wandb/`` (``offline-run-*`` when offline), so
    one ``wandb sync <save_dir>/wandb/offline-run-*`` uploads a whole sweep. `log_model`
    uploads the final checkpoint as a model artifact when training ends.
    """
    global _said_offline
    if mode is None:
        has_key = bool(os.environ.get("WANDB_API_KEY")) or _netrc_has_wandb()
        mode = "online" if has_key else "offline"
        if not has_key and not _said_offline:
            log.warning("W&B: no API key found, logging offline to %s/wandb "
                        "(upload later with `wandb sync %s/wandb/offline-run-*`)", save_dir, save_dir)
            _said_offline = True
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    logger = WandbLogger(
        project=project,
        entity=entity,
        group=group,
        tags=list(tags),
        name=run_name,
        save_dir=str(save_dir),
        mode=mode,
        job_type=job_type,
        log_model=log_model,
        checkpoint_name=f"model-{run_name}" if run_name else None,  # versions of one run key
        settings=_wandb_settings(),
    )
    # Lightning always passes `anonymous`, which wandb >= 0.19 warns about on every run.
    logger._wandb_init.pop("anonymous", None)
    return logger


def _wandb_settings() -> Any:
    """W&B's own console lines (its banner, the run's history and summary, the sync hint:
    about 30 lines on stderr a run) go to the run's ``logs/debug.log`` only, unless
    ``WANDB_SILENT`` says false; `close_loggers` prints one line a run instead."""
    import wandb

    silent = os.environ.get("WANDB_SILENT", "true").strip().lower() not in ("false", "0", "no")
    return wandb.Settings(silent=silent)


def _netrc_has_wandb() -> bool:
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def make_loggers(run: RunSettings, record: RunRecord, **wandb: Any) -> list[Any]:
    """The experiment loggers of the run's ``logger`` group, its hyperparameters logged.

    ``csv`` writes into the run folder; ``wandb`` names the W&B run by its run key (all runs
    under one ``wandb/`` folder, from its config). `wandb` are extra ``wandb.init`` arguments
    (a cohort holds one W&B run per member in one process).
    """
    if run.build.logger is None:
        return []
    if run.logger == "wandb":
        logger = run.build.logger(run_name=record.run_key)
        logger._wandb_init.update(wandb)
    else:
        logger = run.build.logger(save_dir=run.run_dir, version="")
    logger.log_hyperparams({"run_key": record.run_key, **record.config})  # nested: group by any key
    return [logger]


def close_loggers(loggers: Sequence[Any], record: RunRecord) -> None:
    """Put the record in each W&B run's summary, then finish the run, so every run of an
    in-process multirun is a run of its own and `propensity.collect --wandb` reads it back."""
    summary = {k: v for k, v in record.to_dict().items()
               if v is not None and k not in ("config", "traceback")}
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            run = logger.experiment
            run.summary.update(summary)
            where = (f"offline in {Path(run.dir).parent} (upload: wandb sync {Path(run.dir).parent})"
                     if run.offline else run.url)
            run.finish()
            console.info("W&B run %s: %s", run.name, where)
        else:
            logger.save()


def log_trajectory(loggers: Sequence[Any], frame: pd.DataFrame, summary: dict[str, Any]) -> None:
    """A pruned run's trajectory and effective density: W&B gets a table with a chart (one line
    per method), the CSV logger one row per level of the run's method."""
    keys = ("effective_density", "unpruned_weights", "total_weights", "base_val_acc")
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            _log_wandb(logger, frame, {k: summary[k] for k in keys})
        elif isinstance(logger, CSVLogger):
            main = frame[frame["method"] == summary["pruning_method"]]
            for row in main.itertuples():
                logger.log_metrics(
                    {"pruning/density": row.density, "pruning/val_acc": row.val_acc,
                     "pruning/val_loss": row.val_loss},
                    step=int(row.level),
                )
            logger.log_metrics({f"pruning/{k}": float(summary[k]) for k in keys})
            logger.save()


def _log_wandb(logger: WandbLogger, frame: pd.DataFrame, summary: dict[str, Any]) -> None:
    import wandb

    run = logger.experiment
    table = wandb.Table(dataframe=frame)
    run.log(
        {
            "pruning/trajectory": table,
            "pruning/accuracy_vs_density": wandb.plot.line(
                table, "density", "val_acc", stroke="method", title="Validation accuracy vs density"
            ),
        }
    )
    run.summary.update(summary)


def log_llc(loggers: Sequence[Any], fields: dict[str, Any], mean: float, std: float, seconds: float) -> None:
    """The learning coefficient: W&B's summary gets the record's ``llc_*`` fields, the CSV
    logger a row of ``llc/*`` metrics."""
    metrics = {"llc/mean": mean, "llc/std": std, "llc/valid": float(bool(fields["llc_valid"])),
               "llc/seconds": seconds}
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update({**fields, "llc_seconds": seconds})
        elif isinstance(logger, CSVLogger):
            logger.log_metrics(metrics)
            logger.save()


def log_test(loggers: Sequence[Any], loss: float, accuracy: float, epoch: int) -> None:
    """The test metrics, at the step of the last epoch trained."""
    for logger in loggers:
        logger.log_metrics({"test/loss": loss, "test/acc": accuracy, "epoch": epoch}, step=epoch)


def say_pruned(model: str, fields: dict[str, Any]) -> None:
    """The console line of a pruned run: its effective density and core size."""
    console.info("pruned %s: effective density %.3f, %d of %d weights unpruned, base val acc %.4f%s",
                 model, fields["effective_density"], fields["unpruned_weights"], fields["total_weights"],
                 fields["base_val_acc"], " (never degraded)" if fields["never_degraded"] else "")


def say_llc(mean: float, std: float, chains: int, nbeta: float, seconds: float, reason: str) -> None:
    """The console line of a learning-coefficient estimate (`reason`: why it is invalid, or empty)."""
    console.info("learning coefficient %.2f ± %.2f over %d chains (nbeta %.1f, %.1fs)%s",
                 mean, std, chains, nbeta, seconds, f": INVALID, {reason}" if reason else "")
