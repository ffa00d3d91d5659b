"""The settings of a retraining branch, read once from the ``retrain`` config group.

One frozen dataclass per regime: its fields are the branch's identity (`branch_key`), its
defaults are those of ``propensity/conf/retrain/<regime>.yaml``, and its checks raise the
one-line ``retrain.key=value: problem; fix`` before any model is trained.

- ``none``: the paper's protocol, prune without retraining (section 3.2);
- ``finetune``: prune the trained model once per level, then train the survivors (Renda et
  al. 2020, "Comparing rewinding and fine-tuning in neural network pruning");
- ``imp``: iterative magnitude pruning, each level rewinding the survivors to their values at
  training iteration `rewind_iteration` (Frankle and Carbin 2019 at 0; Frankle et al. 2020,
  "Linear mode connectivity and the lottery ticket hypothesis", later), with its controls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from propensity.retrain.crossing import SEARCHES

# The regimes, each a branch of a trained run; ``none`` is the trained run itself.
REGIMES: tuple[str, ...] = ("none", "finetune", "imp")
# IMP's controls (Frankle and Carbin 2019, section 2): the same mask from a fresh random
# initialisation, and a random mask with the same per-layer counts.
CONTROLS: tuple[str, ...] = ("reinit", "random")
ALLOCATIONS: tuple[str, ...] = ("layerwise", "global")
# Fractions above one half leave no level between the trained model and half of it, the same
# bound as `propensity.pruning.masks.STEP_RANGE`, whose exact counts IMP uses.
RATE_RANGE: tuple[float, float] = (0.0, 0.5)
MAX_EPOCHS = 10**6
MAX_SEED = 2**32 - 1


class RetrainSettingsError(ValueError):
    """A ``retrain`` setting that cannot give a meaningful branch."""


def _fail(key: str, value: Any, problem: str, fix: str) -> RetrainSettingsError:
    return RetrainSettingsError(f"retrain.{key}={value!r}: {problem}; {fix}")


def _integer(key: str, value: Any, low: int, high: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(key, value, "must be an integer", fix)
    if not low <= value <= high:
        raise _fail(key, value, f"must be in [{low}, {high}]", fix)


def _fraction(key: str, value: Any, low: float, high: float, fix: str, *, high_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(key, value, "must be a finite number", fix)
    if not low < value < high if high_open else not low < value <= high:
        raise _fail(key, value, f"must be in ({low:g}, {high:g}{')' if high_open else ']'}", fix)


def _choice(key: str, value: Any, options: tuple[str, ...]) -> None:
    if value not in options:
        raise _fail(key, value, "is unknown", f"use one of {', '.join(options)}")


@dataclass(frozen=True)
class NoRetrain:
    """The paper's protocol: the trained model is pruned and evaluated, never retrained."""

    regime: ClassVar[str] = "none"


@dataclass(frozen=True)
class FinetuneSettings:
    """Prune the trained model once at a level of the run's grid, then train the survivors.

    The grid and criterion are the run's own (``pruning.step``, ``pruning.method``): the
    paper's 2% steps. The budget is at most `max_epochs` epochs at the run's learning rate (the
    recipes' rate is constant, so this is Renda et al.'s "fine-tune at the final learning
    rate"), ending earlier once the run's stop rule holds again when `stop_rule` is set.
    `search` finds the first degraded level with `propensity.retrain.crossing.find_crossing`
    (``bisection``, at most 9 fine-tunes on a 50-level grid when accuracy falls monotonically)
    or fine-tunes ``every_level``. `seed` draws the fine-tuning's batch order.
    """

    regime: ClassVar[str] = "finetune"
    max_epochs: int = 10
    stop_rule: bool = True
    search: str = "bisection"
    seed: int = 0

    def __post_init__(self) -> None:
        _integer("max_epochs", self.max_epochs, 1, MAX_EPOCHS,
                 "a fine-tuning budget, e.g. retrain.max_epochs=10")
        if not isinstance(self.stop_rule, bool):
            raise _fail("stop_rule", self.stop_rule, "must be true or false", "e.g. retrain.stop_rule=true")
        _choice("search", self.search, SEARCHES)
        _integer("seed", self.seed, 0, MAX_SEED, "a non-negative integer, e.g. retrain.seed=0")


@dataclass(frozen=True)
class IMPSettings:
    """Iterative magnitude pruning with rewinding, and its controls.

    Level k+1 removes the `rate` of the weights level k kept, the smallest retrained
    magnitudes, per layer (``layerwise``, the paper's allocation) or across all layers
    (``global``); the counts are the run's exact ``remaining`` schedule
    (`propensity.retrain.imp`). The survivors are rewound to the dense run's weights at
    training iteration `rewind_iteration` (0: its initialisation) and retrained with the
    run's recipe, for at most `max_epochs` (None: the run's own bound). Levels continue to
    `min_density`, or stop after the first degraded level when `stop_after_crossing` is set
    (its ED is then known; a later recovery would not change it). Each name in `controls` is
    a branch of every level (`propensity.retrain.controls`), drawn from `control_seed`.
    `seed` draws the retraining's batch order.
    """

    regime: ClassVar[str] = "imp"
    rate: float = 0.2
    allocation: str = "layerwise"
    rewind_iteration: int = 0
    min_density: float = 0.01
    stop_after_crossing: bool = False
    max_epochs: int | None = None
    controls: tuple[str, ...] = CONTROLS
    control_seed: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        low, high = RATE_RANGE
        _fraction("rate", self.rate, low, high, "a fraction of the remaining weights, e.g. retrain.rate=0.2")
        _choice("allocation", self.allocation, ALLOCATIONS)
        _integer("rewind_iteration", self.rewind_iteration, 0, 10**9,
                 "0 for the initial weights, or a training step, e.g. retrain.rewind_iteration=0")
        _fraction("min_density", self.min_density, 0.0, 1.0, "e.g. retrain.min_density=0.01", high_open=True)
        if not isinstance(self.stop_after_crossing, bool):
            raise _fail("stop_after_crossing", self.stop_after_crossing, "must be true or false",
                        "e.g. retrain.stop_after_crossing=false")
        if self.max_epochs is not None:
            _integer("max_epochs", self.max_epochs, 1, MAX_EPOCHS,
                     "an epoch bound, or null for the run's own, e.g. retrain.max_epochs=null")
        if not isinstance(self.controls, tuple):
            raise _fail("controls", self.controls, "must be a list of controls",
                        f"e.g. retrain.controls=[{','.join(CONTROLS)}], or [] for none")
        for control in self.controls:
            _choice("controls", control, CONTROLS)
        if len(set(self.controls)) != len(self.controls):
            raise _fail("controls", list(self.controls), "names a control twice", "list each once")
        _integer("control_seed", self.control_seed, 0, MAX_SEED, "e.g. retrain.control_seed=0")
        _integer("seed", self.seed, 0, MAX_SEED, "a non-negative integer, e.g. retrain.seed=0")


RetrainSettings = NoRetrain | FinetuneSettings | IMPSettings
_BY_REGIME: dict[str, type] = {cls.regime: cls for cls in (NoRetrain, FinetuneSettings, IMPSettings)}


def retrain_settings(values: Mapping[str, Any]) -> RetrainSettings:
    """The settings of a ``retrain`` config as a plain mapping (``name`` picks the regime).

    Unknown keys are refused (a misspelt key would otherwise be silently ignored), lists
    become tuples so the settings are hashable and compare equal however they were written.
    """
    name = values.get("name", "none")
    _choice("name", name, REGIMES)
    cls = _BY_REGIME[name]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known - {"name"})
    if unknown:
        raise _fail(unknown[0], values[unknown[0]], f"is not a setting of retrain={name}",
                    f"use one of {', '.join(sorted(known)) or 'none'}")
    kwargs = {key: tuple(v) if isinstance(v, (list, tuple)) else v
              for key, v in values.items() if key != "name"}
    return cls(**kwargs)
