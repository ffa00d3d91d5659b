"""Configuration errors caught before any data is loaded or any epoch is trained.

Each error is one line, ``key=value: problem; fix``, so a sweep of hundreds of jobs fails in
seconds rather than hours into its first run, and a setting that is part of the run key is
never found wrong only after the model has been trained.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from propensity.config.overrides import top_level_keys

# The allowed pruning values live beside the code that implements them.

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
# Larger than any setting of the paper by orders of magnitude, small enough to fail in a
# second instead of trying to allocate terabytes (width 1e9 would ask for 77 TB).
MAX_WIDTH = 100.0
MAX_COUNT = 10**7
MAX_SEED = 2**32 - 1
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Every top-level key of a composed config, read from the config files themselves
# (`propensity.config.overrides.top_level_keys`): any other, added with ``+key=...``, would be
# silently ignored, so it is refused with the setting it resembles.
TOP_LEVEL_KEYS = top_level_keys()


class ConfigError(ValueError):
    """A configuration value that cannot give a meaningful run."""


def validate(cfg: DictConfig) -> None:
    """Raise `ConfigError` for the first invalid key of a composed training config."""
    for check in (_check_numbers_resolve, _check_top, _check_retrain, _check_model, _check_data,
                  _check_optim, _check_stop, _check_pruning, _check_artifacts, _check_trainer, _check_paths,
                  _check_llc):
        check(cfg)


def _fail(key: str, value: Any, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{key}={_show(value)}: {problem}; {fix}")


def _show(value: Any) -> str:
    if isinstance(value, (DictConfig, ListConfig)):
        value = OmegaConf.to_container(value, resolve=True)
    text = str(value).replace("\n", " ")
    return text if text else "''"


def number(cfg: DictConfig, key: str, low: float, high: float, fix: str, *,
           integer: bool = False, low_open: bool = False, high_open: bool = False) -> Any:
    """The value of `key`, checked to be a finite (integer) number in the given range."""
    value = OmegaConf.select(cfg, key)
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(key, value, f"must be {kind}", fix)
    if not math.isfinite(value):
        raise _fail(key, value, "must be finite", fix)
    if integer and not isinstance(value, int):
        raise _fail(key, value, "must be an integer", fix)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise _fail(key, value, f"must be in {left}{low:g}, {high:g}{right}", fix)
    return value


def _choice(cfg: DictConfig, key: str, options: tuple[str, ...]) -> str:
    value = OmegaConf.select(cfg, key)
    if value not in options:
        raise _fail(key, value, "is unknown", f"use one of {', '.join(options)}")
    return value


def _flag(cfg: DictConfig, key: str) -> None:
    value = OmegaConf.select(cfg, key)
    if not isinstance(value, bool):
        raise _fail(key, value, "must be true or false", f"e.g. {key}=false")


def _numbers(cfg: DictConfig, key: str, check: Callable[[Any], bool], problem: str, fix: str) -> list:
    values = OmegaConf.select(cfg, key)
    if not isinstance(values, ListConfig) or not all(
        not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and check(v)
        for v in values
    ):
        raise _fail(key, values, problem, fix)
    return list(values)


def _check_numbers_resolve(cfg: DictConfig) -> None:
    """Every interpolation resolves, and no number anywhere is NaN or infinite."""
    for key, value in _leaves(cfg, ""):
        if isinstance(value, float) and not math.isfinite(value):
            raise _fail(key, value, "must be finite", f"set {key} to a finite number")


def _leaves(node: Any, prefix: str) -> list[tuple[str, Any]]:
    out = []
    keys = range(len(node)) if isinstance(node, ListConfig) else node.keys()
    for key in keys:
        dotted = f"{prefix}{key}" if isinstance(node, DictConfig) else f"{prefix[:-1]}[{key}]"
        value = node[key]
        if isinstance(value, (DictConfig, ListConfig)):
            out += _leaves(value, f"{dotted}.")
        else:
            out.append((dotted, value))
    return out


def _check_top(cfg: DictConfig) -> None:
    number(cfg, "width", 0, MAX_WIDTH, "the paper uses 0.1, 0.5, 1, 2, 5; e.g. width=0.5",
           low_open=True)
    for key in ("init_seed", "data_seed"):
        number(cfg, key, 0, MAX_SEED, f"use a non-negative integer, e.g. {key}=0", integer=True)
    name = cfg.name
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail("name", name, "must be a plain folder name (letters, digits, . _ -)",
                    "e.g. name=my_sweep; results go to <results_dir>/<name>/")
    model_width = OmegaConf.select(cfg, "model.width")
    if model_width is not None and model_width != cfg.width:
        raise _fail("model.width", model_width, f"differs from width={cfg.width}",
                    f"set the top-level width instead, e.g. width={_show(model_width)}")
    for key in ("resume", "device_from_job", "progress"):
        _flag(cfg, key)
    number(cfg, "cohort", 1, MAX_COUNT, "seeds trained together, e.g. cohort=10 (1: single runs)",
           integer=True)
    tags = cfg.get("tags")
    if not isinstance(tags, ListConfig) or not all(isinstance(t, str) for t in tags):
        raise _fail("tags", tags, "must be a list of labels", "e.g. tags=[pilot,v2]")
    unknown = sorted(set(cfg.keys()) - set(TOP_LEVEL_KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], TOP_LEVEL_KEYS, n=1)
        raise _fail(unknown[0], cfg.get(unknown[0]), "is not a setting of propensity",
                    f"did you mean {close[0]}?" if close else "leave it out (python -m "
                    "propensity.train --help lists the settings)")
    if cfg.get("cohort_memory_gb") is not None:
        number(cfg, "cohort_memory_gb", 0, MAX_COUNT, "use GiB per device, e.g. cohort_memory_gb=70, "
               "or null for a fraction of the free memory", low_open=True)


# What every model factory takes: the recipe builds ``model(width=..., input_shape=...,
# num_classes=...)`` from the config and the data set.
MODEL_ARGUMENTS = ("width", "input_shape", "num_classes")


def _check_model(cfg: DictConfig) -> None:
    """The model's ``_target_`` imports and takes the three arguments the recipe passes, and its
    name can head a run key: a researcher's own model fails here, not when the job starts."""
    import inspect

    from hydra.utils import get_object

    target = OmegaConf.select(cfg, "model._target_")
    fix = "e.g. model=mlp, or model._target_=my_package.MyNet with my_package importable"
    if not isinstance(target, str) or not target:
        raise _fail("model._target_", target, "is not set", fix)
    try:
        factory = get_object(target)
    except Exception as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise _fail("model._target_", target, f"cannot be imported ({reason})",
                    "install your package (pip install -e .) or put it on PYTHONPATH") from None
    if not callable(factory):
        raise _fail("model._target_", target, "is not a class or function", fix)
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    missing = [a for a in MODEL_ARGUMENTS if parameters and not takes_any and a not in parameters]
    if missing:
        raise _fail("model._target_", target, f"takes no {', '.join(missing)} argument",
                    "a model factory takes width, input_shape and num_classes (see docs/extending.md)")
    name = OmegaConf.select(cfg, "model.name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _fail("model.name", name, "must be a plain name (letters, digits, . _ -): it heads "
                    "the run key", "e.g. model.name=mynet")


def _check_data(cfg: DictConfig) -> None:
    number(cfg, "data.batch_size", 1, MAX_COUNT, "use a positive integer, e.g. data.batch_size=64",
           integer=True)
    for key in ("val_size", "test_size", "train_size", "eval_batch_size"):
        if key in cfg.data:
            number(cfg, f"data.{key}", 1, MAX_COUNT, f"use a positive integer, e.g. data.{key}=300",
                   integer=True)


def _check_optim(cfg: DictConfig) -> None:
    # No upper bound: a too-large rate diverges, which the run records as `diverged`.
    number(cfg, "optim.lr", 0, math.inf, "use a positive rate, e.g. optim.lr=1e-3", low_open=True)


def _check_stop(cfg: DictConfig) -> None:
    number(cfg, "stop.max_epochs", 1, 100_000, "use a positive integer, e.g. stop.max_epochs=100",
           integer=True)
    if "target" in cfg.stop:
        number(cfg, "stop.target", 0, 100, "a training-loss target, e.g. stop.target=0.2",
               low_open=True)


def _check_pruning(cfg: DictConfig) -> None:
    # The allowed values live beside the code that implements them; imported here, not at
    # module import, so the entry point's --help stays free of torch.
    from propensity.pruning.effective_density import MODES as THRESHOLD_MODES
    from propensity.pruning.masks import SCHEDULES, STEP_RANGE
    from propensity.pruning.registry import METHOD_NAMES as METHODS

    p = "pruning"
    number(cfg, f"{p}.step", *STEP_RANGE, "e.g. pruning.step=0.02", low_open=True)
    _choice(cfg, f"{p}.schedule", SCHEDULES)
    # The 'remaining' schedule shrinks geometrically and reaches no floor of 0.
    number(cfg, f"{p}.min_density", 0, 1, "the floor of the remaining schedule, e.g. 0.01",
           low_open=True, high_open=True)
    mode = _choice(cfg, f"{p}.threshold_mode", THRESHOLD_MODES)
    # absolute: accuracy points in [0, 1]; relative: a fraction of the unpruned accuracy;
    # loss: an increase of the validation loss, unbounded.
    high, open_high = (math.inf, True) if mode == "loss" else (1.0, True)
    number(cfg, f"{p}.threshold", 0, high, "e.g. pruning.threshold=0.05", low_open=True,
           high_open=open_high)
    _numbers(cfg, f"{p}.thresholds", lambda v: 0 < v < high,
             f"must be a list of numbers in (0, {high:g}) for threshold_mode={mode}",
             "e.g. pruning.thresholds=[0.01,0.02,0.05,0.1]")
    _flag(cfg, f"{p}.eval_test")
    method = _choice(cfg, f"{p}.method", METHODS)
    baselines = OmegaConf.select(cfg, f"{p}.baselines")
    if not isinstance(baselines, ListConfig) or any(b not in METHODS for b in baselines):
        raise _fail(f"{p}.baselines", baselines, f"must be a list of {', '.join(METHODS)}",
                    "e.g. pruning.baselines=[random]")
    if method in baselines or len(set(baselines)) != len(baselines):
        raise _fail(f"{p}.baselines", baselines, "repeats a method",
                    "list each method once, not pruning.method again")
    number(cfg, f"{p}.mask_seeds", 1, 1000, "masks averaged per level, e.g. pruning.mask_seeds=3",
           integer=True)
    if "levels_at_once" in cfg[p]:
        number(cfg, f"{p}.levels_at_once", 0, 10_000,
               "levels per forward, 0 = as many as fit in memory, e.g. pruning.levels_at_once=8",
               integer=True)
    for key, fix in (("score_samples", "examples SNIP and OBD score on, e.g. pruning.score_samples=256"),
                     ("score_seed", "the seed that draws them, e.g. pruning.score_seed=0")):
        if key in cfg[p]:
            number(cfg, f"{p}.{key}", 1 if key == "score_samples" else 0,
                   MAX_COUNT if key == "score_samples" else MAX_SEED, fix, integer=True)
    if "edge_popup" in cfg[p]:
        e = f"{p}.edge_popup"
        _numbers(cfg, f"{e}.densities", lambda v: 0 < v <= 1, "must be a list of densities in (0, 1]",
                 "e.g. pruning.edge_popup.densities=[0.5,0.2]")
        number(cfg, f"{e}.epochs", 1, 10_000, "e.g. pruning.edge_popup.epochs=2", integer=True)
        number(cfg, f"{e}.lr", 0, math.inf, "e.g. pruning.edge_popup.lr=0.1", low_open=True)
        number(cfg, f"{e}.batch_size", 1, MAX_COUNT, "e.g. pruning.edge_popup.batch_size=256",
               integer=True)


def _check_artifacts(cfg: DictConfig) -> None:
    for key in cfg.get("artifacts", {}):
        _flag(cfg, f"artifacts.{key}")


def _check_trainer(cfg: DictConfig) -> None:
    trainer = cfg.trainer
    devices = trainer.get("devices", 1)
    if devices not in (1, "1") and not (isinstance(devices, ListConfig) and len(devices) == 1):
        raise _fail("trainer.devices", devices,
                    "one run trains on one device (several would write one run folder at once)",
                    "keep trainer.devices=1 and spread a sweep over devices with launcher=gpus")
    max_epochs = trainer.get("max_epochs")
    if max_epochs != cfg.stop.max_epochs:
        raise _fail("trainer.max_epochs", max_epochs, f"differs from stop.max_epochs={cfg.stop.max_epochs}",
                    f"set stop.max_epochs={_show(max_epochs)} instead")
    accelerator = _choice(cfg, "trainer.accelerator", ACCELERATORS)
    if accelerator in ("gpu", "cuda") and not cfg.get("device_from_job", False):
        from propensity.launch.devices import visible_devices

        if not visible_devices():
            raise _fail("trainer.accelerator", accelerator, "no CUDA device is visible",
                        "use trainer.accelerator=auto (or trainer=cpu) on this machine")


def _check_paths(cfg: DictConfig) -> None:
    """``results_dir`` is, or can become, a writable directory."""
    value = cfg.results_dir
    path = Path(str(value)).expanduser()
    if not str(value).strip():
        raise _fail("results_dir", value, "is empty", "e.g. results_dir=results")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise _fail("results_dir", value, f"{existing} is a file, not a folder",
                    "point results_dir at a folder")
    try:
        tempfile.TemporaryDirectory(dir=existing, prefix=".propensity-write-test-").cleanup()
    except OSError as error:
        raise _fail("results_dir", value, f"cannot write in {existing} ({error.strerror})",
                    "point results_dir at a folder you can write") from None
    if not os.access(existing, os.W_OK):
        raise _fail("results_dir", value, f"cannot write in {existing}",
                    "point results_dir at a folder you can write")


LLC_ESTIMATORS = ("none", "sgld")


def _check_llc(cfg: DictConfig) -> None:
    """The learning-coefficient settings (beyond the paper), checked before any training."""
    if cfg.get("llc") is None or _choice(cfg, "llc.name", LLC_ESTIMATORS) == "none":
        return
    from propensity.llc import devinterp_available

    if not devinterp_available():
        raise _fail("llc", "sgld", "needs devinterp", "pip install propensity[llc] (or set llc=none)")
    number(cfg, "llc.lr", 0, math.inf, "an SGLD step size, e.g. llc.lr=4e-4", low_open=True)
    number(cfg, "llc.localization", 0, math.inf, "e.g. llc.localization=100")
    if cfg.llc.nbeta is not None:
        number(cfg, "llc.nbeta", 0, math.inf, "e.g. llc.nbeta=100, or null for batch_size / log(batch_size)",
               low_open=True)
    for key, low in {"num_chains": 2, "num_draws": 2, "num_burnin_steps": 0, "num_steps_bw_draws": 1,
                     "batch_size": 2, "seed": 0}.items():
        number(cfg, f"llc.{key}", low, MAX_COUNT, f"an integer >= {low}", integer=True)


def _check_retrain(cfg: DictConfig) -> None:
    """A retraining regime's settings, checked by its typed settings (`propensity.retrain.settings`)."""
    if cfg.get("retrain") is None:
        return
    from propensity.retrain.settings import RetrainSettingsError, retrain_settings

    values = OmegaConf.to_container(cfg.retrain, resolve=True)
    try:
        retrain_settings(values if isinstance(values, dict) else {"name": values})
    except RetrainSettingsError as error:
        raise ConfigError(str(error)) from None
