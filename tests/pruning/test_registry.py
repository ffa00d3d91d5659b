"""The registry of pruning methods: every ranking is registered, and each entry measures its trajectory."""

import pytest
import torch

from propensity.models import MLP, initialize
from propensity.pruning.masks import RANKINGS
from propensity.pruning.registry import METHOD_NAMES, METHODS, REFERENCE, Splits, method

SETTINGS = {"step": 0.25, "schedule": "original", "min_density": 0.01, "mask_seeds": 2,
            "edge_popup": {"densities": [0.5], "epochs": 1, "batch_size": 32}}


def test_every_ranking_is_a_registered_method_and_magnitude_comes_first():
    assert set(RANKINGS) <= set(METHOD_NAMES)
    assert METHOD_NAMES[0] == REFERENCE == "magnitude"


def test_an_unknown_method_is_one_line_naming_the_registered_ones():
    with pytest.raises(ValueError, match="grasp") as info:
        method("grasp")
    assert "magnitude" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("name", METHOD_NAMES)
def test_each_method_measures_a_trajectory_from_the_unpruned_model(name, one_thread):
    from propensity.measurements import MemberSplits, measure_pruning
    from propensity.pruning.settings import PruningSettings

    torch.manual_seed(0)
    model = initialize(MLP(0.05, (1, 4, 4), 3), "glorot", 0)
    x, y = torch.randn(64, 1, 4, 4), torch.randint(0, 3, (64,))
    settings = PruningSettings.from_mapping({**SETTINGS, "method": name})
    result = measure_pruning([model], [MemberSplits((x, y), train=(x, y))], settings)[0]
    trajectory = result.trajectories[0]
    assert trajectory.method == name
    assert trajectory.density[0] == 1.0 and min(trajectory.density) < 1.0


def test_edge_popup_without_the_training_split_is_refused():
    model = MLP(0.05, (1, 4, 4), 3)
    x, y = torch.randn(8, 1, 4, 4), torch.randint(0, 3, (8,))
    with pytest.raises(ValueError, match="x_train"):
        METHODS["edge_popup"].trajectory(model, Splits(x, y), SETTINGS)


@pytest.mark.parametrize("name", RANKINGS)
def test_levels_at_once_reach_the_ranked_methods(name, one_thread, monkeypatch):
    """``pruning.levels_at_once`` is handed to `measure_trajectory`, and only groups the work."""
    from propensity.pruning import registry

    seen = []
    real = registry.measure_trajectory

    def spy(*args, **kwargs):
        seen.append(kwargs["levels_at_once"])
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "measure_trajectory", spy)
    model = initialize(MLP(0.05, (1, 4, 4), 3), "glorot", 0)
    x, y = torch.randn(64, 1, 4, 4), torch.randint(0, 3, (64,))
    one = METHODS[name].trajectory(model, Splits(x, y), SETTINGS)
    many = METHODS[name].trajectory(model, Splits(x, y), {**SETTINGS, "levels_at_once": 3})
    assert seen == [1, 3] and many.val_acc == one.val_acc
