"""The criteria's names and settings are checked before any data loads, one line each (section 6)."""

from __future__ import annotations

import pytest

from propensity.config.validation import ConfigError, validate
from propensity.identity import run_key
from propensity.pruning.registry import METHODS
from tests.conftest import FAST


@pytest.mark.parametrize(("override", "key"), [
    ("pruning.score_samples=0", "pruning.score_samples=0"),
    ("pruning.score_samples=2.5", "pruning.score_samples=2.5"),
    ("pruning.score_seed=-1", "pruning.score_seed=-1"),
    ("pruning.baselines=[snip_uniform]", "pruning.baselines="),
    ("pruning.method=grasp", "pruning.method=grasp"),
])
def test_a_bad_criterion_setting_is_one_line(compose_cfg, override, key):
    with pytest.raises(ConfigError) as info:
        validate(compose_cfg(*FAST, override))
    assert str(info.value).startswith(key) and "\n" not in str(info.value)


def test_every_registered_criterion_is_a_valid_baseline(compose_cfg):
    names = [n for n in METHODS if n != "magnitude"]
    validate(compose_cfg(*FAST, f"pruning.baselines=[{','.join(names)}]"))


def test_the_score_settings_at_their_defaults_keep_the_run_key(compose_cfg):
    plain = compose_cfg(*FAST)
    assert run_key(plain) == run_key(compose_cfg(*FAST, "pruning.score_samples=256", "pruning.score_seed=0"))
    assert run_key(plain) != run_key(compose_cfg(*FAST, "pruning.score_samples=128"))


def test_the_criteria_experiment_sweeps_every_registered_criterion(compose_cfg):
    """All but obd_gn, which on these ReLU networks is obd (`propensity.pruning.obd`)."""
    cfg = compose_cfg("experiment=criteria")
    validate(cfg)
    assert set(cfg.pruning.baselines) == set(METHODS) - {"magnitude", "edge_popup", "obd_gn"}
