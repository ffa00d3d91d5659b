"""A group's settings class and its shipped yaml give the same defaults, so a run configured by
yaml and one built in Python (a researcher's own loop, a benchmark) prune and measure alike."""

from __future__ import annotations

import yaml

from propensity.llc import LLCSettings
from propensity.mechanisms.settings import ArtifactSettings
from propensity.pruning.settings import PruningSettings
from tests.conftest import ROOT

CONF = ROOT / "propensity" / "conf"


def _yaml(path: str) -> dict:
    return yaml.safe_load((CONF / path).read_text())


def test_the_pruning_yaml_is_the_pruning_settings_defaults() -> None:
    shipped = _yaml("pruning/magnitude.yaml")
    edge_popup = shipped.pop("edge_popup")  # the cost bounds live in the yaml alone
    assert PruningSettings.from_mapping(shipped) == PruningSettings()
    assert PruningSettings.from_mapping({"edge_popup": edge_popup}).edge_popup == edge_popup


def test_the_llc_yaml_is_the_llc_settings_defaults() -> None:
    shipped = _yaml("llc/sgld.yaml")
    assert shipped.pop("name") == "sgld"
    assert LLCSettings.from_mapping(shipped) == LLCSettings()


def test_the_artifacts_of_train_yaml_are_the_artifact_settings_defaults() -> None:
    assert ArtifactSettings.from_mapping(_yaml("train.yaml")["artifacts"]) == ArtifactSettings()
