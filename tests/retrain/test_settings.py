"""The typed settings of each regime, the ``retrain`` config group that fills them, and their
one-line errors."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from propensity.retrain.settings import (
    REGIMES,
    FinetuneSettings,
    IMPSettings,
    NoRetrain,
    RetrainSettingsError,
    retrain_settings,
)

CONF = Path(__file__).resolve().parents[2] / "propensity" / "conf" / "retrain"


def _yaml(regime: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(CONF / f"{regime}.yaml"))


def test_every_regime_has_a_config_and_none_is_the_paper() -> None:
    assert sorted(p.stem for p in CONF.glob("*.yaml")) == sorted(REGIMES)
    assert retrain_settings(_yaml("none")) == NoRetrain()
    assert retrain_settings({}) == NoRetrain()


@pytest.mark.parametrize(("regime", "cls"), [("finetune", FinetuneSettings), ("imp", IMPSettings)])
def test_the_yaml_defaults_are_the_dataclass_defaults(regime: str, cls: type) -> None:
    values = _yaml(regime)
    assert values.pop("name") == regime
    assert set(values) == {f.name for f in fields(cls)}
    assert retrain_settings({"name": regime, **values}) == cls()


def test_lists_become_tuples() -> None:
    settings = retrain_settings({"name": "imp", "controls": ["random"]})
    assert settings == IMPSettings(controls=("random",)) and hash(settings)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"name": "lottery"}, "retrain.name='lottery': is unknown; use one of none, finetune, imp"),
        ({"name": "imp", "rat": 0.2}, "retrain.rat=0.2: is not a setting of retrain=imp; use one of"),
        ({"name": "none", "rate": 0.2},
         "retrain.rate=0.2: is not a setting of retrain=none; use one of none"),
        ({"name": "imp", "rate": 0.7}, "retrain.rate=0.7: must be in (0, 0.5]; a fraction of the remaining"),
        ({"name": "imp", "rate": 0}, "retrain.rate=0: must be in (0, 0.5]"),
        ({"name": "imp", "rate": "0.2"}, "retrain.rate='0.2': must be a finite number"),
        ({"name": "imp", "rate": float("nan")}, "retrain.rate=nan: must be a finite number"),
        ({"name": "imp", "allocation": "lamp"},
         "retrain.allocation='lamp': is unknown; use one of layerwise, global"),
        ({"name": "imp", "rewind_iteration": -1}, "retrain.rewind_iteration=-1: must be in [0, "),
        ({"name": "imp", "rewind_iteration": 1.5}, "retrain.rewind_iteration=1.5: must be an integer"),
        ({"name": "imp", "min_density": 1}, "retrain.min_density=1: must be in (0, 1)"),
        ({"name": "imp", "max_epochs": 0}, "retrain.max_epochs=0: must be in [1, "),
        ({"name": "imp", "controls": ["rewind"]},
         "retrain.controls='rewind': is unknown; use one of reinit, random"),
        ({"name": "imp", "controls": ["random", "random"]},
         "retrain.controls=['random', 'random']: names a control twice"),
        ({"name": "imp", "controls": "random"}, "retrain.controls='random': must be a list of controls"),
        ({"name": "imp", "stop_after_crossing": 1}, "retrain.stop_after_crossing=1: must be true or false"),
        ({"name": "finetune", "max_epochs": 0}, "retrain.max_epochs=0: must be in [1, "),
        ({"name": "finetune", "max_epochs": True}, "retrain.max_epochs=True: must be an integer"),
        ({"name": "finetune", "search": "halving"},
         "retrain.search='halving': is unknown; use one of bisection, every_level"),
        ({"name": "finetune", "seed": -1}, "retrain.seed=-1: must be in [0, "),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_key_and_the_fix(values: dict, message: str) -> None:
    with pytest.raises(RetrainSettingsError) as error:
        retrain_settings(values)
    text = str(error.value)
    assert text.startswith(message) and "\n" not in text and "; " in text
