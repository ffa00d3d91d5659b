"""What a single run (`propensity.train`) and a cohort member (`propensity.cohort_run`) share.

Where a run lives and how its folder is made safe to (re)start in, its record (new, finished,
untrained), its CPU thread count, and its experiment loggers. Both recipes call these, so
a member of a cohort is recorded exactly as its single run would be.

Torch, Lightning and W&B are imported inside the functions that need them, so importing the
entry point (``--help``, ``--cfg``, shell completion) stays fast.
"""

from __future__ import annotations

import logging
import platform
import shutil
import time
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from propensity.identity import DEBUG_NAME, is_debug, run_key
from propensity.records import TERMINAL, RunRecord, incomplete, load_record, remove_temporaries

log = logging.getLogger("propensity")

# Packages whose versions each record keeps, for reproducing a result later.
PACKAGES = ("propensity", "torch", "torchvision", "lightning", "hydra-core", "numpy")
# Keys of a config group that describe it rather than being constructor arguments.
DESCRIPTIVE = ("name", "max_epochs", "default_lr")
# A run whose unpruned validation accuracy is within this of chance (1/classes) learned
# nothing: its "effective density" would measure noise, so it gets none.
UNTRAINED_MARGIN = 0.02


def build(node: DictConfig, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate` a config group, leaving out its descriptive keys."""
    params = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items()
              if k not in DESCRIPTIVE}
    try:
        return instantiate(params, **kwargs)
    except InstantiationException as error:  # surface the constructor's own one-line message
        if error.__cause__ is None:
            raise
        raise error.__cause__ from None


def run_directory(cfg: DictConfig) -> Path:
    """``<results_dir>/<name>/<run_key>``, or ``<results_dir>/debug/<run_key>`` for a debug run."""
    return Path(cfg.results_dir) / (DEBUG_NAME if is_debug(cfg) else cfg.name) / run_key(cfg)


def finished_record(cfg: DictConfig) -> RunRecord | None:
    """The record of this experiment if an earlier run ended it and its results are whole."""
    if is_debug(cfg):
        return None
    run_dir = run_directory(cfg)
    previous, _ = load_record(run_dir / "record.json")
    if previous is None or previous.status not in TERMINAL or incomplete(run_dir, previous):
        return None
    return previous


def heal(cfg: DictConfig, run_dir: Path) -> RunRecord | None:
    """Make `run_dir` safe to (re)start in and return the previous record worth trusting.

    A debug run starts from nothing. Otherwise leftover temporaries go; a record that does
    not validate, or a complete one whose tables are missing or hold NaN, is not a result:
    the run is retrained from scratch (its checkpoint moved aside).
    """
    if is_debug(cfg):
        shutil.rmtree(run_dir, ignore_errors=True)
        return None
    if not run_dir.is_dir():
        return None
    remove_temporaries(run_dir)
    previous, problem = load_record(run_dir / "record.json")
    problem = problem or (incomplete(run_dir, previous) if previous is not None else None)
    if problem is None:
        return previous
    log.warning("%s; retraining %s from scratch", problem, run_dir.name)
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        last.replace(last.with_name(f"last.ckpt.before-{time.strftime('%Y%m%dT%H%M%S')}"))
    return None


def new_record(cfg: DictConfig, key: str, previous: RunRecord | None) -> RunRecord:
    """A ``running`` record of `cfg`; a run resumed while ``running`` keeps its start time."""
    versions = {"python": platform.python_version(), **{p: version(p) for p in PACKAGES}}
    return RunRecord(
        run_key=key, experiment=cfg.name, model=cfg.model.name, data=cfg.data.name,
        optim=cfg.optim.name, lr=float(cfg.optim.lr), init=cfg.init.scheme,
        width=float(cfg.width), init_seed=int(cfg.init_seed), data_seed=int(cfg.data_seed),
        stop=cfg.stop.name, batch_size=int(cfg.data.batch_size),
        started_at=previous.started_at if previous and previous.status == "running" else now(),
        versions=versions, config=OmegaConf.to_container(cfg, resolve=True),
    )


def now() -> str:
    """ISO 8601 with microseconds: two runs of one key within a second still differ."""
    return datetime.now().astimezone().isoformat(timespec="microseconds")


def use_threads(record: RunRecord, previous: RunRecord | None) -> None:
    """Resume with the CPU thread count the run started with: the last bits of a float sum
    depend on how many threads split it, so bit-identical resumption needs the same count."""
    import torch

    if previous is not None and previous.status in ("running", "interrupted", "failed") \
            and previous.cpu_threads and previous.cpu_threads != torch.get_num_threads():
        log.info("resume with %d CPU threads, as the run started", previous.cpu_threads)
        torch.set_num_threads(previous.cpu_threads)
    record.cpu_threads = torch.get_num_threads()


def fmt(value: float | None) -> str:
    """A metric for a log line: three decimals, or ``n/a`` when it was not measured."""
    return "n/a" if value is None else f"{value:.3f}"


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
    record.ed_by_threshold, record.ed_by_method = {}, {}


def make_loggers(cfg: DictConfig, run_dir: Path, record: RunRecord, **wandb: Any) -> list[Any]:
    """The experiment loggers of ``cfg.logger`` for one run, its hyperparameters logged.

    ``csv`` writes into the run folder; ``wandb`` names the W&B run by its run key (all runs
    under one ``wandb/`` folder, from its config). `wandb` are extra ``wandb.init`` arguments
    (a cohort holds one W&B run per member in one process).
    """
    if cfg.logger.name == "none":
        return []
    if cfg.logger.name == "wandb":
        logger = build(cfg.logger, run_name=record.run_key)
        logger._wandb_init.update(wandb)
    else:
        logger = build(cfg.logger, save_dir=run_dir, version="")
    logger.log_hyperparams({"run_key": record.run_key, **record.config})  # nested: group by any key
    return [logger]


def close_loggers(loggers: list[Any], record: RunRecord) -> None:
    """Put the record in each W&B run's summary, then finish the run, so every job of an
    in-process multirun is a run of its own and `propensity.collect --wandb` reads it back."""
    from lightning.pytorch.loggers import WandbLogger

    summary = {k: v for k, v in record.to_dict().items()
               if v is not None and k not in ("config", "traceback")}
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(summary)
            logger.experiment.finish()
        else:
            logger.save()


def is_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (whose failures are recorded)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
