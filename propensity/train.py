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
import signal
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from propensity.console import quiet_third_party
from propensity.identity import batch_seed, is_debug, run_key
from propensity.launch import (
    Interrupted,
    interruptible,
    job_device,
    register_resolvers,
    write_job_status,
)
from propensity.records import RunRecord
from propensity.runs import (  # re-exported: the recipe's helpers, shared with cohorts
    UNTRAINED_MARGIN,
    build,
    close_loggers,
    finished_record,
    fmt,
    heal,
    is_multirun,
    make_loggers,
    mark_if_untrained,
    new_record,
    now,
    run_directory,
    use_threads,
)
from propensity.validation import ConfigError, validate

if TYPE_CHECKING:
    import lightning as L

# Lightning, torch and the training modules are imported inside the functions that train,
# so `--help`, `--cfg` and shell completion answer in well under two seconds.

log = logging.getLogger("propensity")

__all__ = ["UNTRAINED_MARGIN", "build", "finished_record", "main", "mark_if_untrained", "run_directory",
           "train"]


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
    previous = heal(cfg, run_dir)
    record = new_record(cfg, key, previous)
    use_threads(record, previous if cfg.resume else None)
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
        record.finished_at = now()
        record.save(record_path)
        log.info("%s %s in %.1fs: width %g, effective density %s, %s of %s weights unpruned -> %s",
                 record.status, key, record.wall_time_s, record.width,
                 fmt(record.effective_density), record.unpruned_weights, record.total_weights,
                 run_dir)
    return record


def _is_sigterm(error: BaseException) -> bool:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    return isinstance(error, SIGTERMException)


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
    loggers = make_loggers(cfg, run_dir, record)
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
        close_loggers(loggers, record)


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

        return main_cohort(cfg, single=train)
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
        if not is_multirun():
            raise SystemExit(1) from None
        return None
    write_job_status(record)
    return record.effective_density


def main() -> None:
    """``propensity-train`` / ``python -m propensity.train``: ``.env`` first, then Hydra."""
    load_env()
    _hydra_main()


if __name__ == "__main__":
    main()
