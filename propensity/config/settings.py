"""A run's settings, read once: its composed config validated, then typed (section 3's knobs).

`read_settings` is the one place that reads ``pruning``, ``stop``, ``llc``, ``artifacts`` and
``cohort`` by name; everything downstream takes the `RunSettings` it returns. The composed
config stays inside (``cfg``): the run key hashes it, and the groups that build objects
(``model``, ``data``, ``optim``, ``stop``, ``trainer``, ``logger``) are instantiated from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from propensity.config.validation import ConfigError, validate
from propensity.identity import DEBUG_NAME, batch_seed, is_debug, run_key
from propensity.llc import LLCSettings
from propensity.mechanisms.artifacts import ArtifactSettings
from propensity.pruning.settings import PruningSettings

# Trainer keys the stacked engine of a cohort honours: where the run goes and how it is
# shown, the epoch bound, determinism, and the debugging limits (`propensity.engines.limits`).
STACKED_TRAINER_KEYS: tuple[str, ...] = (
    "_target_", "accelerator", "devices", "max_epochs", "num_sanity_val_steps", "enable_progress_bar",
    "enable_model_summary", "log_every_n_steps", "deterministic", "fast_dev_run", "limit_train_batches",
    "limit_val_batches", "limit_test_batches", "overfit_batches", "default_root_dir",
)


@dataclass(frozen=True)
class RunSettings:
    """Everything the recipe reads of one run, typed."""

    cfg: DictConfig
    run_key: str
    run_dir: Path
    experiment_dir: Path
    debug: bool
    resume: bool  # resume=true and not a debug run (debug runs always start afresh)
    progress: bool
    init: str
    init_seed: int
    data_seed: int
    batch_seed: int
    max_epochs: int
    batch_size: int
    cohort: int
    cohort_memory_gb: float | None
    pruning: PruningSettings
    llc: LLCSettings | None
    artifacts: ArtifactSettings
    logger: str

    @property
    def trainer(self) -> dict[str, Any]:
        """The ``trainer`` group as a plain mapping."""
        trainer = OmegaConf.to_container(self.cfg.trainer, resolve=True)
        assert isinstance(trainer, dict)
        return trainer


def experiment_dir(cfg: DictConfig) -> Path:
    """``<results_dir>/<name>``, or the debug folder for a debug run (never resumed)."""
    return Path(cfg.results_dir) / (DEBUG_NAME if is_debug(cfg) else cfg.name)


def read_settings(cfg: DictConfig) -> RunSettings:
    """Validate `cfg` (one-line `ConfigError`) and read it into `RunSettings`."""
    validate(cfg)
    debug = is_debug(cfg)
    key = run_key(cfg)
    experiment = experiment_dir(cfg)
    llc = _group(cfg, "llc")
    llc_settings = None if not llc or llc.get("name", "none") == "none" else LLCSettings(
        **{k: v for k, v in llc.items() if k != "name"})
    pruning = _group(cfg, "pruning")
    artifacts = _group(cfg, "artifacts")
    return RunSettings(
        cfg=cfg, run_key=key, run_dir=experiment / key, experiment_dir=experiment,
        debug=debug, resume=bool(cfg.resume) and not debug, progress=bool(cfg.get("progress", True)),
        init=str(cfg.init.scheme), init_seed=int(cfg.init_seed), data_seed=int(cfg.data_seed),
        batch_seed=batch_seed(cfg.init_seed, cfg.data_seed), max_epochs=int(cfg.stop.max_epochs),
        batch_size=int(cfg.data.batch_size), cohort=int(cfg.get("cohort", 1)),
        cohort_memory_gb=cfg.get("cohort_memory_gb"), pruning=PruningSettings.from_mapping(pruning),
        llc=llc_settings, artifacts=ArtifactSettings(**artifacts), logger=str(cfg.logger.name),
    )


def _group(cfg: DictConfig, key: str) -> dict[str, Any]:
    node = cfg.get(key)
    if node is None:
        return {}
    values = OmegaConf.to_container(node, resolve=True)
    assert isinstance(values, dict)
    return values


def check_stackable_settings(settings: RunSettings) -> None:
    """Refuse, in one line and before anything is trained, a setting a cohort's stacked engine
    would not honour; such a run trains as a single run (``cohort=1``)."""
    for key, value in settings.trainer.items():
        if key not in STACKED_TRAINER_KEYS and value is not None:
            raise ConfigError(f"trainer.{key}={value}: a cohort's stacked engine does not apply it; "
                              "use cohort=1 to train these runs one by one with Lightning")
    if settings.logger == "wandb" and settings.cfg.logger.get("log_model"):
        raise ConfigError("logger.log_model=true: a cohort keeps one checkpoint for all its members, "
                          "not a model per run to upload; use cohort=1, or logger.log_model=false")


def check_stackable_model(settings: RunSettings) -> None:
    """Refuse, in one line and before any data loads, a model the cohort's generic stack cannot
    reproduce member by member (`propensity.cohort.functional.stack_problem`, which probes one
    training step of two copies on the CPU); such runs train one by one (``cohort=1``). The
    answer depends on the model and data configs alone, so a sweep probes each pair once."""
    import json

    cfg = settings.cfg
    key = json.dumps([OmegaConf.to_container(cfg[g], resolve=True) for g in ("model", "data")],
                     sort_keys=True, default=str)
    if key not in _STACK_PROBES:
        _STACK_PROBES[key] = _stack_problem(settings)
    problem = _STACK_PROBES[key]
    if problem is not None:
        raise ConfigError(f"model._target_={cfg.model._target_}: cannot train as a cohort: {problem}; "
                          "use cohort=1 to train these runs one by one")


_STACK_PROBES: dict[str, str | None] = {}


def _stack_problem(settings: RunSettings) -> str | None:
    from hydra.utils import get_object

    from propensity.cohort.functional import stack_problem
    from propensity.cohort.stacked import HAND_WRITTEN
    from propensity.config.build import build

    cfg = settings.cfg
    if get_object(cfg.model._target_) in HAND_WRITTEN:  # the paper's classes: nothing to build or probe
        return None
    data = build(cfg.data, data_seed=settings.data_seed, batch_seed=0)  # knows its shape, loads nothing
    model = build(cfg.model, input_shape=data.input_shape, num_classes=data.num_classes)
    return stack_problem(model, data.input_shape)

