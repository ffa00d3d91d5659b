"""Configuration errors caught before any data is loaded or any epoch is trained.

Each error is one line naming the key and the fix, so a sweep of hundreds of jobs fails in
seconds rather than hours into its first run.
"""

from __future__ import annotations

from omegaconf import DictConfig

from propensity.pruning.effective_density import MODES as THRESHOLD_MODES
from propensity.pruning.masks import SCHEDULES, STEP_RANGE
from propensity.pruning.registry import METHOD_NAMES as METHODS


class ConfigError(ValueError):
    """A configuration value that cannot give a meaningful run."""


def validate(cfg: DictConfig) -> None:
    """Raise `ConfigError` for the first invalid key of a composed training config."""
    if not float(cfg.width) > 0:
        raise ConfigError(f"width={cfg.width} must be > 0 (the paper uses 0.1, 0.5, 1, 2, 5)")
    for key in ("init_seed", "data_seed"):
        value = cfg[key]
        if not isinstance(value, int) or value < 0:
            raise ConfigError(f"{key}={value} must be a non-negative integer, e.g. {key}=0")
    if int(cfg.stop.max_epochs) < 1:
        raise ConfigError(f"stop.max_epochs={cfg.stop.max_epochs} must be >= 1")
    if int(cfg.data.batch_size) < 1:
        raise ConfigError(f"data.batch_size={cfg.data.batch_size} must be >= 1")
    if "val_size" in cfg.data and int(cfg.data.val_size) < 1:
        raise ConfigError(f"data.val_size={cfg.data.val_size} must be >= 1")
    if float(cfg.optim.lr) <= 0:
        raise ConfigError(f"optim.lr={cfg.optim.lr} must be > 0")
    pruning = cfg.pruning
    if not STEP_RANGE[0] < float(pruning.step) <= STEP_RANGE[1]:
        raise ConfigError(f"pruning.step={pruning.step} must be in (0, {STEP_RANGE[1]}], e.g. 0.02")
    if pruning.schedule not in SCHEDULES:
        raise ConfigError(f"pruning.schedule={pruning.schedule} is unknown; use one of {SCHEDULES}")
    if pruning.threshold_mode not in THRESHOLD_MODES:
        raise ConfigError(
            f"pruning.threshold_mode={pruning.threshold_mode} is unknown; use one of {THRESHOLD_MODES}"
        )
    if not float(pruning.threshold) > 0:
        raise ConfigError(f"pruning.threshold={pruning.threshold} must be > 0, e.g. 0.05")
    for method in [pruning.method, *pruning.baselines]:
        if method not in METHODS:
            raise ConfigError(f"pruning method {method!r} is unknown; use one of {METHODS}")
