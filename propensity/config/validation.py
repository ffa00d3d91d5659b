"""Configuration errors caught before any data is loaded or any epoch is trained.

Each error is one line, ``key=value: problem; fix``, so a sweep of hundreds of jobs fails in
seconds rather than hours into its first run, and a setting that is part of the run key is
never found wrong only after the model has been trained.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import fields
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from propensity.config.overrides import top_level_keys
from propensity.config.top_level import NAME, TopLevelSettings
from propensity.specs import MAX_COUNT, Choice, Number, SettingError, refuse, show

ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
# Every top-level key of a composed config, the top-level settings' fields and the groups
# (`propensity.config.overrides.top_level_keys`): any other, added with ``+key=...``, would be
# silently ignored, so it is refused with the setting it resembles.
TOP_LEVEL_KEYS = top_level_keys()


class ConfigError(SettingError):
    """A configuration value that cannot give a meaningful run."""


def validate(cfg: DictConfig) -> None:
    """Raise `ConfigError` for the first invalid key of a composed training config; the typed
    settings' own checks (`propensity.specs`) run here, through the settings they build."""
    try:
        for check in (_check_numbers_resolve, _check_top, _check_retrain, _check_model, _check_data,
                      _check_optim, _check_stop, _check_pruning, _check_trainer, _check_llc):
            check(cfg)
    except SettingError as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(str(error)) from None


def read_top_level(cfg: DictConfig) -> TopLevelSettings:
    """The top-level settings of `cfg`, each checked by its field (`SettingError`)."""
    return TopLevelSettings.from_mapping(
        {f.name: _plain(cfg.get(f.name)) for f in fields(TopLevelSettings) if f.name in cfg})


def _plain(value: Any) -> Any:
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def group_values(cfg: DictConfig, key: str) -> dict[str, Any]:
    """The group `key` of `cfg` as a plain, resolved mapping ({} where absent)."""
    values = _plain(cfg.get(key))
    return values if isinstance(values, dict) else {}


def _fail(key: str, value: Any, problem: str, fix: str) -> ConfigError:
    return ConfigError(str(refuse(key, _plain(value), problem, fix)))


def _show(value: Any) -> str:
    return show(_plain(value))


def number(cfg: DictConfig, key: str, low: float, high: float, fix: str, *,
           integer: bool = False, low_open: bool = False, high_open: bool = False) -> Any:
    """The value of `key`, checked to be a finite (integer) number in the given range."""
    value = OmegaConf.select(cfg, key)
    Number(low, high, fix, integer=integer, low_open=low_open, high_open=high_open)(key, value)
    return value


def _choice(cfg: DictConfig, key: str, options: tuple[str, ...]) -> str:
    value = OmegaConf.select(cfg, key)
    Choice(options)(key, value)
    return value


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
    """Each top-level setting by its own field's check (`propensity.config.top_level`), then
    what no one field can say: ``model.width`` agrees with ``width``, and no key is unknown."""
    top = read_top_level(cfg)
    model_width = OmegaConf.select(cfg, "model.width")
    if model_width is not None and model_width != top.width:
        raise _fail("model.width", model_width, f"differs from width={cfg.width}",
                    f"set the top-level width instead, e.g. width={_show(model_width)}")
    unknown = sorted(set(cfg.keys()) - set(TOP_LEVEL_KEYS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], TOP_LEVEL_KEYS, n=1)
        raise _fail(unknown[0], cfg.get(unknown[0]), "is not a setting of propensity",
                    f"did you mean {close[0]}?" if close else "leave it out (python -m "
                    "propensity.train --help lists the settings)")


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
    if not isinstance(name, str) or not NAME.fullmatch(name):
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
    """The pruning settings by their own checks (`propensity.pruning.settings`), and the
    methods they name by the registry. Imported here, not at module import, so the entry
    point's --help stays free of torch."""
    from propensity.pruning.registry import refuse_unregistered
    from propensity.pruning.settings import PruningSettings

    refuse_unregistered(PruningSettings.from_mapping(group_values(cfg, "pruning")))


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


LLC_ESTIMATORS = ("none", "sgld")


def _check_llc(cfg: DictConfig) -> None:
    """The learning-coefficient settings (beyond the paper), checked before any training."""
    if cfg.get("llc") is None or _choice(cfg, "llc.name", LLC_ESTIMATORS) == "none":
        return
    from propensity.llc import LLCSettings, devinterp_available

    if not devinterp_available():
        raise _fail("llc", "sgld", "needs devinterp", "pip install propensity[llc] (or set llc=none)")
    LLCSettings.from_mapping({k: v for k, v in group_values(cfg, "llc").items() if k != "name"})


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
