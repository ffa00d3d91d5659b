"""Train one model, prune it, record it: the experiment of sections 3.1 and 3.2 as a recipe.

    python -m propensity.train model=mlp data=digits width=0.5 optim=sgd init=glorot
    python -m propensity.train -m experiment=quickstart          # a sweep

Each run lives in ``<results_dir>/<name>/<run_key>/`` (see `propensity.identity`): asking
for a finished run again skips it, an interrupted one resumes from its last checkpoint.
"""

from __future__ import annotations

import logging
import platform
import time
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from propensity.callbacks import EpochHistory
from propensity.callbacks.pruning_sweep import PruningSweep
from propensity.identity import batch_seed, run_key
from propensity.launch import job_device, register_resolvers, write_job_status
from propensity.models import initialize
from propensity.module import Classifier, DivergedError
from propensity.pruning import total_weights, weights_per_layer
from propensity.records import TERMINAL, RunRecord
from propensity.validation import validate

log = logging.getLogger("propensity")

# Packages whose versions each record keeps, for reproducing a result later.
_PACKAGES = ("propensity", "torch", "torchvision", "lightning", "hydra-core", "numpy")
# Keys of a config group that describe it rather than being constructor arguments.
_DESCRIPTIVE = ("name", "max_epochs")


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
    """``<results_dir>/<name>/<run_key>``: where this experiment's results live."""
    return Path(cfg.results_dir) / cfg.name / run_key(cfg)


def finished_record(cfg: DictConfig) -> RunRecord | None:
    """The record of this experiment if an earlier run ended it (finished or diverged)."""
    previous = _previous_record(run_directory(cfg) / "record.json")
    return previous if previous is not None and previous.status in TERMINAL else None


def train(cfg: DictConfig) -> RunRecord:
    """Run (or skip, or resume) the experiment `cfg` describes and return its record."""
    validate(cfg)
    key, run_dir = run_key(cfg), run_directory(cfg)
    record_path = run_dir / "record.json"
    previous = _previous_record(record_path)
    if cfg.resume and previous is not None and previous.status in TERMINAL:
        log.info("skip %s: already %s in %s", key, previous.status, run_dir)
        return previous

    record = _new_record(cfg, key, previous)
    record.save(record_path)
    started = time.perf_counter()
    try:
        _fit_prune_test(cfg, run_dir, record)
    except DivergedError as error:
        record.status, record.error = "diverged", str(error)
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


def _fit_prune_test(cfg: DictConfig, run_dir: Path, record: RunRecord) -> None:
    """Data -> model -> fit with the stop rule -> prune -> test, filling `record` in."""
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
    pruning = PruningSweep(run_dir, **OmegaConf.to_container(cfg.pruning, resolve=True))
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(  # the latest epoch, for resumption
        dirpath=run_dir / "checkpoints", filename="last", save_top_k=1, monitor=None,
        save_on_train_epoch_end=True, enable_version_counter=False,
    )
    callbacks = [stop_rule, history, pruning, *_artifact_callbacks(cfg, run_dir), checkpoint]
    loggers = _loggers(cfg, run_dir, record)
    try:
        trainer = instantiate(
            cfg.trainer, callbacks=callbacks, logger=loggers or False, default_root_dir=run_dir,
            **job_device(cfg),
        )
        last = run_dir / "checkpoints" / "last.ckpt"
        resume_from = last if cfg.resume and last.is_file() else None
        if resume_from:
            log.info("resume %s from %s", record.run_key, resume_from)
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)

        record.stop_epoch, record.stop_target_met = stop_rule.stop_epoch, stop_rule.target_met
        record.epochs_trained = trainer.current_epoch
        best = history.frame().set_index("epoch").loc[stop_rule.stop_epoch]
        record.train_loss, record.train_acc = float(best.train_loss), float(best.train_acc)
        record.val_loss, record.val_acc = float(best.val_loss), float(best.val_acc)
        for key, value in pruning.summary.items():
            setattr(record, key, value)
        tested = trainer.test(module, datamodule=datamodule, verbose=False)[0]
        record.test_loss, record.test_acc = tested["test/loss"], tested["test/acc"]
        record.status = "finished" if stop_rule.target_met else "max_epochs_reached"
    finally:
        _close(loggers, record)


def _artifact_callbacks(cfg: DictConfig, run_dir: Path) -> list[L.Callback]:
    flags = OmegaConf.to_container(cfg.artifacts, resolve=True)
    if not any(flags.values()):
        return []
    from propensity.callbacks.artifacts import SaveArtifacts

    return [SaveArtifacts(run_dir=run_dir, **flags)]


def _loggers(cfg: DictConfig, run_dir: Path, record: RunRecord) -> list[Any]:
    if cfg.logger.name == "none":
        return []
    logger = build(cfg.logger, save_dir=run_dir, **(
        {"run_name": record.run_key} if cfg.logger.name == "wandb" else {"version": ""}))
    logger.log_hyperparams(_flat_identity(record))
    return [logger]


def _close(loggers: list[Any], record: RunRecord) -> None:
    """Finish each W&B run, so every job of an in-process multirun is a run of its own."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(
                {"status": record.status, "test_acc": record.test_acc, "val_acc": record.val_acc}
            )
            logger.experiment.finish()


def _flat_identity(record: RunRecord) -> dict[str, Any]:
    """The config as flat keys, so dashboards can group runs by width, optimiser, seeds."""
    keys = ("run_key", "experiment", "model", "data", "optim", "lr", "init", "width",
            "init_seed", "data_seed", "stop", "batch_size")
    return {k: getattr(record, k) for k in keys}


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


def _previous_record(path: Path) -> RunRecord | None:
    try:
        return RunRecord.load(path)
    except (OSError, ValueError, TypeError):
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


register_resolvers()


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | list[float | None] | None:
    """Hydra entry point; in a multirun a failed job is recorded and the sweep goes on."""
    from dotenv import load_dotenv

    load_dotenv()
    if cfg.get("cohort_members"):  # a job of several seeds (propensity.sweeper)
        from propensity.cohort_run import main_cohort

        return main_cohort(cfg)
    done = finished_record(cfg) if cfg.resume else None
    if done is not None:
        log.info("skip %s: already %s", done.run_key, done.status)
        write_job_status(done, skipped=True)
        return done.effective_density
    try:
        record = train(cfg)
    except Exception as error:
        write_job_status(None, error=error)
        if not _is_multirun():
            raise
        log.exception("job failed; recorded in its record.json, the sweep goes on")
        return None
    write_job_status(record)
    return record.effective_density


def _is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


if __name__ == "__main__":
    main()
