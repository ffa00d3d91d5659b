"""The pruning settings check themselves where they are declared, in the one-line format."""

from __future__ import annotations

import pytest

from propensity.pruning.registry import refuse_unregistered
from propensity.pruning.settings import PruningSettings
from propensity.specs import SettingError


def test_the_defaults_are_the_papers_and_a_config_mapping_reads_the_same() -> None:
    assert PruningSettings() == PruningSettings.from_mapping(
        {"method": "magnitude", "baselines": [], "thresholds": [0.01, 0.02, 0.05, 0.1], "step": 0.02})
    assert PruningSettings.from_mapping({"baselines": ["random"]}).methods == ("magnitude", "random")


@pytest.mark.parametrize(("values", "message"), [
    ({"step": 0.9}, "pruning.step=0.9: must be in (0, 0.5]"),
    ({"threshold": 5}, "pruning.threshold=5: must be in (0, 1)"),
    ({"threshold_mode": "loss", "thresholds": [0.1, -1]}, "pruning.thresholds=[0.1, -1]: must be a list of "
     "numbers in (0, inf) for threshold_mode=loss"),
    ({"baselines": ["magnitude"]}, "pruning.baselines=['magnitude']: repeats a method"),
    ({"edge_popup": {"epochs": 0}}, "pruning.edge_popup.epochs=0: must be in [1, 10000]"),
    ({"edge_popup": {"epoch": 2}}, "pruning.edge_popup.epoch=2: is not a setting of edge_popup; "
     "did you mean pruning.edge_popup.epochs?"),
    ({"stpe": 0.1}, "pruning.stpe=0.1: is not a setting of pruning; did you mean pruning.step?"),
])
def test_a_bad_setting_is_one_line_naming_its_key(values, message: str) -> None:
    with pytest.raises(SettingError) as info:
        PruningSettings.from_mapping(values)
    assert str(info.value).startswith(message), str(info.value)


def test_threshold_mode_loss_takes_thresholds_above_one() -> None:
    assert PruningSettings(threshold_mode="loss", threshold=5, thresholds=(0.5, 2)).threshold == 5.0


def test_method_names_are_the_registrys() -> None:
    refuse_unregistered(PruningSettings(method="snip", baselines=("random",)))
    with pytest.raises(SettingError, match=r"^pruning\.method=lottery: is unknown; use one of magnitude, "):
        refuse_unregistered(PruningSettings(method="lottery"))
    with pytest.raises(SettingError, match=r"^pruning\.baselines=\['lottery'\]: must be a list of magnitude"):
        refuse_unregistered(PruningSettings(baselines=("lottery",)))
