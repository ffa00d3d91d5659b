"""The registry of pruning methods: every ranking is registered, and each entry measures its trajectory."""

import pytest
import torch

from propensity.models import MLP
from propensity.pruning.masks import RANKINGS
from propensity.pruning.registry import METHOD_NAMES, METHODS, REFERENCE, Splits, method
from propensity.pruning.settings import PruningSettings

SETTINGS = {"step": 0.25, "schedule": "original", "min_density": 0.01, "mask_seeds": 2,
            "edge_popup": {"densities": [0.5], "epochs": 1, "batch_size": 32}}


def test_every_ranking_is_a_registered_method_and_magnitude_comes_first():
    assert set(RANKINGS) <= set(METHOD_NAMES)
    assert METHOD_NAMES[0] == REFERENCE == "magnitude"


def test_an_unknown_method_is_one_line_naming_the_registered_ones():
    with pytest.raises(ValueError, match="grasp") as info:
        method("grasp")
    assert "magnitude" in str(info.value) and "\n" not in str(info.value)


def test_edge_popup_without_the_training_split_is_refused():
    model = MLP(0.05, (1, 4, 4), 3)
    x, y = torch.randn(8, 1, 4, 4), torch.randint(0, 3, (8,))
    with pytest.raises(ValueError, match="x_train"):
        METHODS["edge_popup"].trajectory(model, Splits(x, y), PruningSettings.from_mapping(SETTINGS))
