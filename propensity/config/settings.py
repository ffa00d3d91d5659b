"""A run's settings, read once: its composed config validated, then typed (section 3's knobs).

`read_settings` is the one place that reads a run's composed config; everything downstream
takes the `RunSettings` it returns: typed values, the run key (a hash of the config), and
the factories of the groups that build objects (``model``, ``data``, ``optim``, ``stop``,
``trainer``, ``logger``), so the recipe and the engines never read OmegaConf.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from propensity.config.build import build
from propensity.config.top_level import TopLevelSettings
from propensity.config.validation import ConfigError, group_values, read_top_level, validate
from propensity.identity import DEBUG_NAME, batch_seed, hashed_config, is_debug, run_key
from propensity.launch.grouping import SEED_KEYS
from propensity.llc import LLCSettings
from propensity.pruning.settings import PruningSettings
from propensity.retrain.settings import NoRetrain, RetrainSettings, retrain_settings

# Trainer keys the stacked engine of a cohort honours: where the run goes and how it is
# shown, the epoch bound, determinism, and the debugging limits (`propensity.engines.limits`).
STACKED_TRAINER_KEYS: tuple[str, ...] = (
    "_target_", "accelerator", "devices", "max_epochs", "num_sanity_val_steps", "enable_progress_bar",
    "enable_model_summary", "log_every_n_steps", "deterministic", "fast_dev_run", "limit_train_batches",
    "limit_val_batches", "limit_test_batches", "overfit_batches", "default_root_dir",
)


@dataclass(frozen=True)
class Builders:
    """The objects a run's config groups describe, each built by calling its factory: the
    groups are read once, into these, when the settings are read (`read_settings`)."""

    data: Callable[..., Any]  # (data_seed=, batch_seed=) -> TensorDataModule
    model: Callable[..., Any]  # (input_shape=, num_classes=) -> nn.Module
    optimizer: Callable[[], Any]  # () -> a factory of the optimiser over parameters
    stop_rule: Callable[[], Any]  # () -> StopRule
    trainer: Callable[..., Any]  # (**Lightning arguments) -> lightning.Trainer
    logger: Callable[..., Any] | None  # (**arguments) -> a Lightning logger; None: logger=none


@dataclass(frozen=True)
class RunSettings(TopLevelSettings):
    """Everything the recipe and the engines read of one run, typed; nothing below the config
    package reads the composed config itself. The top-level settings are its first fields,
    each as `TopLevelSettings` declares it, but ``resume``: false for a debug run, which
    always starts afresh."""

    run_key: str
    run_dir: Path
    experiment_dir: Path
    experiment: str
    cell: str  # the grid cell: the hashed config without the seeds, as JSON
    config: Mapping[str, Any]  # the resolved config, as the record and the loggers keep it
    build: Builders
    model_name: str
    data_name: str
    optim_name: str
    stop_name: str
    lr: float
    momentum: float
    debug: bool
    init: str
    batch_seed: int
    max_epochs: int
    batch_size: int
    eval_batch_size: int
    pruning: PruningSettings
    llc: LLCSettings | None
    retrain: RetrainSettings  # the branch of the trained run to add (``none``: the paper's protocol)
    logger: str
    log_model: bool
    trainer: Mapping[str, Any]  # the ``trainer`` group, plain
    # Where the job trains, asked when it trains (a sweep's parent reads every job's settings
    # and must not touch CUDA): `propensity.launch.devices.job_device` and `device_of`.
    bind_device: Callable[[], Mapping[str, Any]]
    find_device: Callable[[], Any]

    @cached_property
    def trainer_device(self) -> Mapping[str, Any]:
        """Trainer overrides binding the job to its device (``launcher=gpus``), else none."""
        return self.bind_device()

    @cached_property
    def device(self) -> Any:
        """The job's `torch.device`; both engines train there."""
        return self.find_device()


def experiment_dir(cfg: DictConfig) -> Path:
    """``<results_dir>/<name>``, or the debug folder for a debug run (never resumed)."""
    return Path(cfg.results_dir) / (DEBUG_NAME if is_debug(cfg) else cfg.name)


def read_settings(cfg: DictConfig) -> RunSettings:
    """Validate `cfg` (one-line `ConfigError`) and read it into `RunSettings`."""
    from propensity.data.base import DEFAULT_EVAL_BATCH
    from propensity.launch.devices import device_of, job_device

    validate(cfg)
    top = read_top_level(cfg)
    debug = is_debug(cfg)
    key = run_key(cfg)
    experiment = experiment_dir(cfg)
    llc = group_values(cfg, "llc")
    llc_settings = None if not llc or llc.get("name", "none") == "none" else LLCSettings.from_mapping(
        {k: v for k, v in llc.items() if k != "name"})
    config = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(config, dict)
    science = {k: v for k, v in hashed_config(cfg).items() if k not in SEED_KEYS}
    logger = str(cfg.logger.name)
    builders = Builders(
        data=partial(build, cfg.data), model=partial(build, cfg.model), optimizer=partial(build, cfg.optim),
        stop_rule=partial(build, cfg.stop), trainer=partial(instantiate, cfg.trainer),
        logger=None if logger == "none" else partial(build, cfg.logger),
    )
    top_level = {**vars(top), "resume": top.resume and not debug}  # a debug run starts afresh
    return RunSettings(
        **top_level, run_key=key, run_dir=experiment / key, experiment_dir=experiment, experiment=top.name,
        cell=json.dumps(science, sort_keys=True), config=config, build=builders,
        model_name=str(cfg.model.name), data_name=str(cfg.data.name), optim_name=str(cfg.optim.name),
        stop_name=str(cfg.stop.name), lr=float(cfg.optim.lr), momentum=float(cfg.optim.get("momentum", 0.0)),
        debug=debug, init=str(cfg.init.scheme), batch_seed=batch_seed(top.init_seed, top.data_seed),
        max_epochs=int(cfg.stop.max_epochs), batch_size=int(cfg.data.batch_size),
        eval_batch_size=int(cfg.data.get("eval_batch_size", DEFAULT_EVAL_BATCH)),
        pruning=PruningSettings.from_mapping(group_values(cfg, "pruning")), llc=llc_settings,
        retrain=_retrain(cfg), logger=logger, log_model=bool(cfg.logger.get("log_model", False)),
        trainer=group_values(cfg, "trainer"),
        bind_device=partial(job_device, cfg), find_device=partial(device_of, cfg),
    )


def _retrain(cfg: DictConfig) -> RetrainSettings:
    node = cfg.get("retrain")
    if node is None:
        return NoRetrain()
    if not isinstance(node, DictConfig):
        return retrain_settings({"name": node})
    return retrain_settings(group_values(cfg, "retrain"))


def check_stackable_settings(settings: RunSettings) -> None:
    """Refuse, in one line and before anything is trained, a setting a cohort's stacked engine
    would not honour; such a run trains as a single run (``cohort=1``)."""
    for key, value in settings.trainer.items():
        if key not in STACKED_TRAINER_KEYS and value is not None:
            raise ConfigError(f"trainer.{key}={value}: a cohort's stacked engine does not apply it; "
                              "use cohort=1 to train these runs one by one with Lightning")
    if settings.logger == "wandb" and settings.log_model:
        raise ConfigError("logger.log_model=true: a cohort keeps one checkpoint for all its members, "
                          "not a model per run to upload; use cohort=1, or logger.log_model=false")


# Answers of the stack question by the model and data configs: a sweep asks once per pair.
StackProbes = dict[str, "str | None"]


def check_stackable_model(settings: RunSettings, probes: StackProbes | None = None) -> None:
    """Refuse, in one line and before any data loads, a model the cohort's generic stack cannot
    reproduce member by member (`propensity.cohort.functional.stack_problem`, which probes one
    training step of two copies on the CPU); such runs train one by one (``cohort=1``). The
    answer depends on the model and data configs alone: `probes`, kept by the caller for a
    sweep, holds it for each pair already asked."""
    probes = {} if probes is None else probes
    config = settings.config
    key = json.dumps([config["model"], config["data"]], sort_keys=True, default=str)
    if key not in probes:
        probes[key] = _stack_problem(settings)
    problem = probes[key]
    if problem is not None:
        raise ConfigError(f"model._target_={config['model']['_target_']}: cannot train as a cohort: "
                          f"{problem}; use cohort=1 to train these runs one by one")


def _stack_problem(settings: RunSettings) -> str | None:
    from hydra.utils import get_object

    from propensity.cohort.stacking import class_stack_refusal

    def probe() -> tuple[Any, tuple[int, ...]]:
        data = settings.build.data(data_seed=settings.data_seed, batch_seed=0)  # its shape; loads nothing
        model = settings.build.model(input_shape=data.input_shape, num_classes=data.num_classes)
        return model, data.input_shape

    return class_stack_refusal(get_object(settings.config["model"]["_target_"]), probe)
