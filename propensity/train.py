"""Train one model, prune it, record it: the experiment of sections 3.1 and 3.2 as a recipe.

    python -m propensity.train model=mlp data=digits width=0.5 optim=sgd init=glorot
    python -m propensity.train -m experiment=quickstart          # a sweep

Each run lives in ``<results_dir>/<name>/<run_key>/`` (see `propensity.identity`): asking
for a finished run again skips it, an interrupted one resumes from its last checkpoint.
Debugging runs (``debug=fdr|limit|overfit``) live in ``<results_dir>/debug/<run_key>/``,
start afresh every time and are never collected.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import signal
import time
import traceback
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from propensity.console import quiet_third_party
from propensity.identity import DEBUG_NAME, batch_seed, is_debug, run_key
from propensity.launch import (
    Interrupted,
    interruptible,
    job_device,
    register_resolvers,
    write_job_status,
)
from propensity.records import TERMINAL, RunRecord, incomplete, load_record, remove_temporaries
from propensity.validation import ConfigError, validate

if TYPE_CHECKING:
    import lightning as L

# Lightning, torch and the training modules are imported inside the functions that train,
# so `--help`, `--cfg` and shell completion answer in well under two seconds.

log = logging.getLogger("propensity")

# Packages whose versions each record keeps, for reproducing a result later.
_PACKAGES = ("propensity", "torch", "torchvision", "lightning", "hydra-core", "numpy")
# Keys of a config group that describe it rather than being constructor arguments.
_DESCRIPTIVE = ("name", "max_epochs", "default_lr")
# A run whose unpruned validation accuracy is within this of chance (1/classes) learned
# nothing: its "effective density" would measure noise, so it gets none.
UNTRAINED_MARGIN = 0.02


def build(node: DictConfig, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate` a config group, leaving out its descriptive keys."""
    params = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items()
              if k not in _DESCRIPTIVE}
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


def train(cfg: DictConfig) -> RunRecord:
    """Run (or skip, or resume) the experiment `cfg` describes and return its record."""
    validate(cfg)
    done = finished_record(cfg) if cfg.resume else None
    if done is not None:
        log.info("skip %s: already %s in %s", done.run_key, done.status, run_directory(cfg))
        return done
    return _run(cfg)


def _run(cfg: DictConfig) -> RunRecord:
    """Train, prune and test a validated experiment that has no trustworthy finished record."""
    key, run_dir = run_key(cfg), run_directory(cfg)
    record_path = run_dir / "record.json"
    previous = _heal(cfg, run_dir)
    record = _new_record(cfg, key, previous)
    _use_threads(record, previous if cfg.resume else None)
    record.save(record_path)
    started = time.perf_counter()
    from propensity.module import DivergedError

    try:
        with interruptible():
            _fit_prune_test(cfg, run_dir, record)
    except DivergedError as error:
        record.status, record.error = "diverged", str(error)
    except (Interrupted, KeyboardInterrupt) as error:
        record.status, record.error = "interrupted", str(error) or type(error).__name__
        raise
    except SystemExit as error:  # Lightning's answer to SIGTERM or Ctrl-C under another handler
        record.status, record.error = "interrupted", f"interrupted (exit {error.code})"
        if _is_sigterm(error):
            record.error = "interrupted by SIGTERM"
            raise Interrupted(signal.SIGTERM) from error
        raise
    except Exception as error:
        record.status, record.error = "failed", f"{type(error).__name__}: {error}"
        record.traceback = traceback.format_exc()
        raise
    finally:
        record.wall_time_s = time.perf_counter() - started
        record.finished_at = _now()
        record.save(record_path)
        log.info("%s %s in %.1fs: width %g, effective density %s, %s of %s weights unpruned -> %s",
                 record.status, key, record.wall_time_s, record.width,
                 _fmt(record.effective_density), record.unpruned_weights, record.total_weights,
                 run_dir)
    return record


def _heal(cfg: DictConfig, run_dir: Path) -> RunRecord | None:
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


def _use_threads(record: RunRecord, previous: RunRecord | None) -> None:
    """Resume with the CPU thread count the run started with: the last bits of a float sum
    depend on how many threads split it, so bit-identical resumption needs the same count."""
    import torch

    if previous is not None and previous.status in ("running", "interrupted", "failed") \
            and previous.cpu_threads and previous.cpu_threads != torch.get_num_threads():
        log.info("resume with %d CPU threads, as the run started", previous.cpu_threads)
        torch.set_num_threads(previous.cpu_threads)
    record.cpu_threads = torch.get_num_threads()


def _is_sigterm(error: BaseException) -> bool:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    return isinstance(error, SIGTERMException)


def _untrained(record: RunRecord, num_classes: int) -> bool:
    """Unpruned validation accuracy within `UNTRAINED_MARGIN` of chance (1/classes)."""
    base = record.base_val_acc if record.base_val_acc is not None else record.val_acc
    return base is not None and base <= 1 / num_classes + UNTRAINED_MARGIN


def mark_if_untrained(record: RunRecord, num_classes: int) -> None:
    """A model left at chance has no effective density: its trajectory would measure noise."""
    if not _untrained(record, num_classes):
        return
    record.status = "untrained"
    record.error = (f"unpruned validation accuracy {_fmt(record.base_val_acc)} is at most "
                    f"{UNTRAINED_MARGIN:g} above chance (1/{num_classes}): no ED")
    record.effective_density = record.ed_last_pass = record.unpruned_weights = None
    record.ed_by_threshold, record.ed_by_method = {}, {}


def _fit_prune_test(cfg: DictConfig, run_dir: Path, record: RunRecord) -> None:
    """Data -> model -> fit with the stop rule -> prune -> test, filling `record` in."""
    import lightning as L

    from propensity.callbacks import EpochHistory, EpochProgress
    from propensity.callbacks.prune_after_fit import PruneAfterFit
    from propensity.checkpoints import AtomicCheckpointIO, readable_checkpoint
    from propensity.models import initialize
    from propensity.module import Classifier
    from propensity.pruning import total_weights, weights_per_layer

    L.seed_everything(batch_seed(cfg.init_seed, cfg.data_seed), verbose=False)
    datamodule = build(
        cfg.data, data_seed=cfg.data_seed, batch_seed=batch_seed(cfg.init_seed, cfg.data_seed)
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    model = build(cfg.model, input_shape=datamodule.input_shape, num_classes=datamodule.num_classes)
    initialize(model, cfg.init.scheme, cfg.init_seed)
    record.total_weights, record.weights_per_layer = total_weights(model), weights_per_layer(model)
    module = Classifier(model, build(cfg.optim), datamodule.num_classes)
    log.info("train %s on %s: width %g, %d weights, %s, %s init, seeds init=%d data=%d",
             cfg.model.name, cfg.data.name, cfg.width, record.total_weights, cfg.optim.name,
             cfg.init.scheme, cfg.init_seed, cfg.data_seed)

    stop_rule = build(cfg.stop)
    history = EpochHistory(run_dir / "history.csv")
    pruning = PruneAfterFit(run_dir, **OmegaConf.to_container(cfg.pruning, resolve=True))
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(  # the latest epoch, for resumption
        dirpath=run_dir / "checkpoints", filename="last", save_top_k=1, monitor=None,
        save_on_train_epoch_end=True, enable_version_counter=False,
    )
    llc = _llc_callback(cfg, run_dir)
    callbacks = [stop_rule, history, pruning, *llc, *_artifact_callbacks(cfg, run_dir), checkpoint]
    if cfg.get("progress", True):
        callbacks.append(EpochProgress())
    loggers = _loggers(cfg, run_dir, record)
    try:
        trainer = instantiate(
            cfg.trainer, callbacks=callbacks, logger=loggers or False, default_root_dir=run_dir,
            plugins=[AtomicCheckpointIO()], **job_device(cfg),
        )
        record.device = str(trainer.strategy.root_device)
        last = run_dir / "checkpoints" / "last.ckpt"
        resume_from = readable_checkpoint(last) if cfg.resume and not is_debug(cfg) else None
        if resume_from:
            log.info("resume %s from %s", record.run_key, resume_from)
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)

        record.stop_epoch, record.stop_target_met = stop_rule.stop_epoch, stop_rule.target_met
        record.epochs_trained = trainer.current_epoch
        best = history.frame().set_index("epoch").loc[stop_rule.stop_epoch]
        record.train_loss, record.train_acc = float(best.train_loss), float(best.train_acc)
        record.val_loss, record.val_acc = float(best.val_loss), float(best.val_acc)
        for key, value in [*pruning.summary.items(), *(llc[0].summary.items() if llc else ())]:
            setattr(record, key, value)
        tested = trainer.test(module, datamodule=datamodule, verbose=False)[0]
        record.test_loss, record.test_acc = tested["test/loss"], tested["test/acc"]
        record.status = "finished" if stop_rule.target_met else "max_epochs_reached"
        mark_if_untrained(record, datamodule.num_classes)
    finally:
        _close(loggers, record)


def _artifact_callbacks(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    flags = OmegaConf.to_container(cfg.artifacts, resolve=True)
    if not any(flags.values()):
        return []
    from propensity.callbacks.save_artifacts import SaveArtifacts

    return [SaveArtifacts(run_dir=run_dir, **flags)]


def _llc_callback(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    if cfg.get("llc") is None or cfg.llc.name == "none":
        return []
    from propensity.callbacks.llc import LLCEstimation

    return [LLCEstimation(run_dir, **OmegaConf.to_container(cfg.llc, resolve=True))]


def _loggers(cfg: DictConfig, run_dir: Path, record: RunRecord) -> list[Any]:
    if cfg.logger.name == "none":
        return []
    if cfg.logger.name == "wandb":  # save_dir from its config: all runs under one wandb/ folder
        logger = build(cfg.logger, run_name=record.run_key)
    else:
        logger = build(cfg.logger, save_dir=run_dir, version="")
    logger.log_hyperparams({"run_key": record.run_key, **record.config})  # nested: group by any key
    return [logger]


def _close(loggers: list[Any], record: RunRecord) -> None:
    """Put the record in each W&B run's summary, then finish the run, so every job of an
    in-process multirun is a run of its own and `propensity.collect --wandb` reads it back."""
    from lightning.pytorch.loggers import WandbLogger

    summary = {k: v for k, v in record.to_dict().items()
               if v is not None and k not in ("config", "traceback")}
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(summary)
            logger.experiment.finish()


def _new_record(cfg: DictConfig, key: str, previous: RunRecord | None) -> RunRecord:
    versions = {"python": platform.python_version(), **{p: version(p) for p in _PACKAGES}}
    return RunRecord(
        run_key=key, experiment=cfg.name, model=cfg.model.name, data=cfg.data.name,
        optim=cfg.optim.name, lr=float(cfg.optim.lr), init=cfg.init.scheme,
        width=float(cfg.width), init_seed=int(cfg.init_seed), data_seed=int(cfg.data_seed),
        stop=cfg.stop.name, batch_size=int(cfg.data.batch_size),
        started_at=previous.started_at if previous and previous.status == "running" else _now(),
        versions=versions, config=OmegaConf.to_container(cfg, resolve=True),
    )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _now() -> str:
    """ISO 8601 with microseconds: two runs of one key within a second still differ."""
    return datetime.now().astimezone().isoformat(timespec="microseconds")


register_resolvers()


def load_env(folder: Path | None = None) -> None:
    """Read ``.env`` from the working directory (the project's), before Hydra composes the
    config, so ``PROPENSITY_RESULTS_DIR`` and ``SLURM_*`` there reach the results and the
    launcher. Variables already set in the environment win."""
    from dotenv import load_dotenv

    load_dotenv((folder or Path.cwd()) / ".env", override=False)


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float | None:
    """Hydra entry point; in a multirun a failed job is recorded and the sweep goes on."""
    quiet_third_party()
    if cfg.get("cohort_members"):  # a job of several seeds (propensity.sweeper)
        from propensity.cohort_run import main_cohort

        return main_cohort(cfg)
    try:
        validate(cfg)
        done = finished_record(cfg) if cfg.resume else None
        if done is not None:
            log.info("skip %s: already %s", done.run_key, done.status)
            write_job_status(done, skipped=True)
            return done.effective_density
        record = _run(cfg)
    except Interrupted as stop:
        write_job_status(None, error=stop)
        log.error("%s: the run's record says interrupted; rerun the command to resume", stop)
        raise SystemExit(128 + stop.signum) from None
    except Exception as error:
        where = write_job_status(None, error=error)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        kind = "config error" if isinstance(error, ConfigError) else type(error).__name__
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        log.error("job failed: %s: %s%s", kind, message,
                  f" (traceback in {where})" if where else "")
        if not _is_multirun():
            raise SystemExit(1) from None
        return None
    write_job_status(record)
    return record.effective_density


def main() -> None:
    """``propensity-train`` / ``python -m propensity.train``: ``.env`` first, then Hydra."""
    load_env()
    _hydra_main()


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


if __name__ == "__main__":
    main()
