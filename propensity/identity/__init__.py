"""A run's identity: its resolved config, hashed into a stable run key.

As in open_lth's hashed experiment directories, asking for the same experiment twice finds
the first one's results: ``<results_dir>/<name>/<run_key>/``. The identity fails safe: the
*whole* resolved config enters the hash except the keys declared in `LOGISTICS` (where the
run is written, how it is launched and logged, how fast its data is read), so a key nobody
thought about changes the run key rather than silently reusing another run's numbers.

As in open_lth's ``Hparams``, a value equal to its default is left out of the hash, so a key
added to a config later with its default value keeps every existing run key. The default of
a key of a group with a ``_target_`` (trainer, model, data, optim, stop) is the default of
that constructor's parameter: leaving the key out and writing its default run the same code.
Keys outside such groups that were added after a run key existed are listed in
`LATER_DEFAULTS` with the value that reproduces the older runs.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from typing import Any

from omegaconf import DictConfig, OmegaConf

from propensity.config.top_level import TopLevelSettings
from propensity.specs import later_defaults, logistics

# Dotted keys that say where or how a run happens, never what it computes: the top-level
# settings declared logistics where they are declared (`propensity.config.top_level`), then
# keys of the config groups.
LOGISTICS: tuple[str, ...] = (
    *logistics(TopLevelSettings),
    "logger",
    "data.root",                  # where the files are ...
    "data.download",
    "data.verify_checksums",
    "data.eval_batch_size",       # ... and how fast they are read
    "data.whole_epoch",
    "data.default_lr",            # hashed where it takes effect, as optim.lr
    "pruning.levels_at_once",     # levels per forward: the same accuracies, faster
    "trainer.accelerator",        # the device type is recorded, not hashed (docs/configuration.md)
    "trainer.devices",            # always 1 (refused otherwise by propensity.validation)
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.log_every_n_steps",  # metrics are logged per epoch by the module
)

# Config groups that choose a branch of the trained run (retraining regimes): a branch never
# trains the dense model again, so it extends the run key with its own settings
# (`propensity.retrain.identity.branch_key`) and leaves the run key where it was.
BRANCH_GROUPS: tuple[str, ...] = ("retrain",)

# Keys outside the groups with a ``_target_`` added after run keys existed: dotted key -> the
# value that gives the behaviour of the runs recorded before the key existed; the top-level
# settings declare theirs where they are declared (`propensity.config.top_level`).
LATER_DEFAULTS: dict[str, Any] = {
    **later_defaults(TopLevelSettings),
    "llc": {"name": "none"},  # no learning-coefficient estimate (beyond the paper)
    "pruning.score_samples": 256,  # criteria beyond magnitude: read only by SNIP and OBD
    "pruning.score_seed": 0,
}

# Classes a config names by ``_target_`` that moved within this package: the run key hashes the
# place they had when the key was first written, so moving code never moves a run key.
MOVED_TARGETS: dict[str, str] = {
    "propensity.engines.stopping.TrainForEpochs": "propensity.callbacks.TrainForEpochs",
    "propensity.engines.stopping.StopAtTrainLoss": "propensity.callbacks.StopAtTrainLoss",
    "propensity.engines.stopping.RestoreBestValLoss": "propensity.callbacks.RestoreBestValLoss",
}

# Trainer settings that make a run a debugging run (lightning-hydra-template's ``debug/``).
DEBUG_TRAINER_KEYS: tuple[str, ...] = (
    "fast_dev_run", "limit_train_batches", "limit_val_batches", "limit_test_batches",
    "overfit_batches",
)
DEBUG_NAME = "debug"


def model_name(target: str) -> str:
    """The name a model group takes from its ``_target_``: the class (or factory) name in lower
    case, ``propensity.models.MLP`` -> ``mlp``, ``mynets.TanhNet`` -> ``tanhnet``.

    ``conf/model/*.yaml`` write ``name: ${propensity.model_name:${._target_}}``, so a model
    brought with ``model._target_=my_pkg.Net`` is named (and its runs keyed and recorded) after
    itself, not after the yaml whose other keys it kept; the paper's names are their classes'.
    A researcher's own yaml may set any literal name instead.
    """
    return str(target).rsplit(".", 1)[-1].lower()


def register_resolvers() -> None:
    """The resolver the model groups name themselves with; safe to call more than once."""
    if not OmegaConf.has_resolver("propensity.model_name"):
        OmegaConf.register_new_resolver("propensity.model_name", model_name)


# Whatever reads a run's identity resolves its config, so this module registers the resolver.
register_resolvers()


def hashed_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config that identifies the run: logistics and default values left out."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    return _strip(resolved, "")


def run_key(cfg: DictConfig) -> str:
    """Readable prefix plus a 10-hex-digit hash, e.g. ``mlp-w0.5-sgd-glorot-i0-d0-3f9a0c1b2d``."""
    text = json.dumps(hashed_config(cfg), sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return (
        f"{cfg.model.name}-w{float(cfg.width):g}-{cfg.optim.name}-{cfg.init.scheme}"
        f"-i{cfg.init_seed}-d{cfg.data_seed}-{digest}"
    )


def is_debug(cfg: DictConfig) -> bool:
    """Whether `cfg` is a debugging run (``debug=...``, ``fast_dev_run``, ``limit_*``, ...)."""
    trainer = cfg.get("trainer") or {}
    return cfg.get("name") == DEBUG_NAME or any(
        _debugging(key, trainer.get(key)) for key in DEBUG_TRAINER_KEYS
    )


def _debugging(key: str, value: Any) -> bool:
    """Lightning's meaning: ``limit_*=1.0`` is every batch but ``limit_*=1`` is one batch."""
    if value is None or value is False:
        return False
    if key.startswith("limit_"):
        return not (isinstance(value, float) and value == 1.0)
    return value != 0


def batch_seed(init_seed: int, data_seed: int) -> int:
    """The seed of the batch order, drawn from both seeds, so neither alone decides it."""
    return int(hashlib.sha256(f"{init_seed}/{data_seed}".encode()).hexdigest()[:8], 16)


def _strip(node: dict[str, Any], prefix: str) -> dict[str, Any]:
    defaults = _constructor_defaults(node.get("_target_"))
    out: dict[str, Any] = {}
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if dotted in LOGISTICS or dotted in BRANCH_GROUPS:
            continue
        if key in defaults and _same(value, defaults[key]):
            continue
        if key == "_target_" and value in MOVED_TARGETS:
            value = MOVED_TARGETS[value]
        if dotted in LATER_DEFAULTS and _same(value, LATER_DEFAULTS[dotted]):
            continue
        out[key] = _strip(value, f"{dotted}.") if isinstance(value, dict) else _normal(value)
    return out


def _constructor_defaults(target: Any) -> dict[str, Any]:
    """Parameter defaults of the ``_target_`` a config group builds (empty if none)."""
    if not isinstance(target, str):
        return {}
    from hydra.utils import get_object

    try:
        signature = inspect.signature(get_object(target))
    except (ImportError, AttributeError, ValueError, TypeError):
        return {}
    return {name: p.default for name, p in signature.parameters.items()
            if p.default is not inspect.Parameter.empty}


def _same(value: Any, default: Any) -> bool:
    """Equal as config values: ``True`` is not ``1``, ``1`` is ``1.0``, tuples match lists."""
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    if isinstance(default, tuple):
        default = list(default)
    numbers = (int, float)
    if (type(value) in numbers and type(default) in numbers) or type(value) is type(default):
        return bool(value == default)
    return False


def _normal(value: Any) -> Any:
    """One spelling per number: ``1`` and ``1.0`` hash alike (``width=1`` is ``width=1.0``)."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value
