"""The top-level settings are one spec: train.yaml's lines, the known keys, their checks, the
logistics and the typed settings all follow its fields, so a new setting is a field and a line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import yaml

from propensity.config.settings import RunSettings, read_settings
from propensity.config.top_level import TopLevelSettings
from propensity.config.validation import TOP_LEVEL_KEYS
from propensity.identity import LATER_DEFAULTS, LOGISTICS
from propensity.specs import later_defaults, logistics
from tests.conftest import ROOT

NAMES = [f.name for f in fields(TopLevelSettings)]


def test_every_line_of_train_yaml_is_a_field_of_the_spec_and_back() -> None:
    lines = yaml.safe_load((ROOT / "propensity" / "conf" / "train.yaml").read_text())
    assert [k for k in lines if k not in ("defaults", "hydra")] == NAMES


def test_the_known_keys_the_logistics_and_the_settings_follow_the_spec(compose_cfg) -> None:
    assert list(TOP_LEVEL_KEYS[:len(NAMES)]) == NAMES
    assert set(logistics(TopLevelSettings)) <= set(LOGISTICS)
    assert later_defaults(TopLevelSettings).items() <= LATER_DEFAULTS.items()
    assert [f.name for f in fields(RunSettings)][:len(NAMES)] == NAMES
    cfg = compose_cfg("width=2", "tags=[a,b]", "cohort_memory_gb=8", "resume=false")
    settings = read_settings(cfg)
    assert settings.width == 2.0 and type(settings.width) is float
    assert settings.tags == ("a", "b") and settings.cohort_memory_gb == 8.0 and settings.resume is False
    assert settings.results_dir == Path(cfg.results_dir) and settings.artifacts.any is False


# A science setting added after run keys existed (so it declares the value older runs had) and
# a logistics one: each one field and one yaml line, as docs/adding-a-setting.md shows.
NEW_FIELDS = '''
    label_smoothing: float = setting(check=Number(0, 1, "e.g. label_smoothing=0.1", high_open=True),
                                     later_default=0.0)
    console_colour: bool = setting(check=Flag(), logistics=True)
'''
NEW_LINES = "label_smoothing: 0.0\nconsole_colour: true\n"
PROBE = '''
import json, sys
import propensity
from hydra import compose, initialize_config_dir
from propensity.config.settings import read_settings
from propensity.config.validation import TOP_LEVEL_KEYS, ConfigError
from propensity.identity import LOGISTICS, run_key

conf, results = sys.argv[1], sys.argv[2]
out = {"package": propensity.__file__, "known": "label_smoothing" in TOP_LEVEL_KEYS,
       "logistics": "console_colour" in LOGISTICS}
with initialize_config_dir(config_dir=conf, version_base="1.3"):
    def cfg(*overrides):
        return compose("train", overrides=[f"results_dir={results}", *overrides])
    out["key"] = run_key(cfg())
    out["key_smoothed"] = run_key(cfg("label_smoothing=0.1"))
    out["key_plain"] = run_key(cfg("console_colour=false"))
    settings = read_settings(cfg("label_smoothing=0.1", "console_colour=false"))
    out["read"] = [settings.label_smoothing, settings.console_colour]
    for bad in ("label_smoothing=1.5", "console_colour=maybe", "+label_smothing=0.1"):
        try:
            read_settings(cfg(bad))
            out[bad] = None
        except ConfigError as error:
            out[bad] = str(error)
print(json.dumps(out))
'''


def test_a_new_top_level_setting_is_one_spec_field_and_one_yaml_line(compose_cfg, tmp_path: Path) -> None:
    """A copy of the package with two fields added to the spec and two lines to train.yaml, and
    no other edit: the settings are read, typed, checked in one line, known, and placed in the
    run's identity; the runs made before them keep their keys."""
    from propensity.identity import run_key

    copy = tmp_path / "package"
    shutil.copytree(ROOT / "propensity", copy / "propensity", ignore=shutil.ignore_patterns("__pycache__"))
    spec = copy / "propensity" / "config" / "top_level.py"
    text = spec.read_text()
    assert text.rstrip().endswith("setting()  # section 5's inputs"), "the spec is no longer the module's end"
    spec.write_text(text.rstrip() + "\n" + NEW_FIELDS)
    train = copy / "propensity" / "conf" / "train.yaml"
    train.write_text(train.read_text() + NEW_LINES)
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(copy)}
    done = subprocess.run([sys.executable, "-c", PROBE, str(copy / "propensity" / "conf"), str(results)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["package"].startswith(str(copy))
    assert out["known"] and out["logistics"]
    assert out["key"] == run_key(compose_cfg()) == out["key_plain"]  # older runs keep their keys
    assert out["key_smoothed"] != out["key"]
    assert out["read"] == [0.1, False]
    assert out["label_smoothing=1.5"].startswith(
        "label_smoothing=1.5: must be in [0, 1); e.g. label_smoothing=0.1")
    assert out["console_colour=maybe"].startswith("console_colour=maybe: must be true or false")
    assert out["+label_smothing=0.1"].startswith("label_smothing=0.1: is not a setting of propensity; "
                                                 "did you mean label_smoothing?")
