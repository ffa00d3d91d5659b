"""Criteria as registry entries: one line each, measured alike for one model and for a cohort (section 6)."""

import copy
import functools

import pytest
import torch

from propensity.measurements import MemberSplits, measure_pruning
from propensity.models import MLP, Conv2, initialize
from propensity.pruning import scores as scores_module
from propensity.pruning.criteria import Criterion, criterion_plans
from propensity.pruning.masks import plan
from propensity.pruning.registry import CONTROLS, METHOD_NAMES, METHODS
from propensity.pruning.settings import PruningSettings

CRITERIA = [n for n in METHOD_NAMES if METHODS[n].criterion is not None]
STEPS = 60


def _settings(*methods, **kwargs):
    return PruningSettings(method=methods[0], baselines=tuple(methods[1:]), step=0.1, mask_seeds=2,
                           score_samples=32, **kwargs)


def _digits():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = torch.as_tensor(x, dtype=torch.float32).view(-1, 1, 8, 8)
    return (x - x.mean()) / x.std(), torch.as_tensor(y)


@functools.cache
def _trained(kind, seed):
    """`kind` at width 0.1 trained on 600 digits (full-batch Adam, 60 steps; 80-90% validation
    accuracy), so that pruning it far enough degrades it under every criterion."""
    x, y = _digits()
    model = initialize(MLP(0.1, (1, 8, 8), 10) if kind is MLP else Conv2(0.1, (1, 8, 8), 10), "glorot", seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(STEPS):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(x[300:900]), y[300:900]).backward()
        optimiser.step()
    return model.eval()


def _models(kind=MLP, n=2):
    return [copy.deepcopy(_trained(kind, seed)) for seed in range(n)]


def _splits(n=2):
    """Each member's validation split (300 digits the models never saw) and training split."""
    x, y = _digits()
    return [MemberSplits((x[:300], y[:300]), train=(x[300:900], y[300:900])) for _ in range(n)]


def test_every_score_and_allocation_is_registered_with_its_control():
    for score in ("snip", "obd", "synflow"):
        assert score in METHODS and f"{score}_global" in METHODS
        assert f"{score}_lamp_shuffled" in METHODS and f"{score}_erk" in METHODS
    assert "units" in METHODS and METHODS["units"].trajectory is not None
    assert all(control in METHODS and METHODS[control].random for control in CONTROLS.values())
    assert METHODS["snip"].needs_train_split and METHODS["obd_lamp"].needs_train_split
    assert not METHODS["synflow_erk"].needs_train_split and not METHODS["magnitude_lamp"].needs_train_split


def test_an_unknown_score_or_allocation_is_one_line():
    with pytest.raises(ValueError, match="score 'grasp' is unknown"):
        Criterion("grasp")
    with pytest.raises(ValueError, match="allocation 'uniform' is unknown"):
        Criterion("snip", "uniform")


def test_the_magnitude_criterion_is_the_papers_plan():
    model = _models(n=1)[0]
    split = _splits(1)[0]
    ours = criterion_plans(Criterion("magnitude"), "m", [model], [(None, split.val)], _settings("magnitude"),
                           [0])[0][0]
    theirs = plan(model, "magnitude", 0.1)
    assert torch.equal(ours.pruned, theirs.pruned)
    assert all(torch.equal(a, b) for a, b in zip(ours.orders, theirs.orders, strict=True))


@pytest.mark.parametrize("kind", [MLP, Conv2])
def test_a_cohort_measures_each_criterion_as_its_members_alone(kind, one_thread):
    names = ("snip_lamp", "obd_erk", "synflow_global", "snip_global_shuffled", "random_erk", "units")
    models, splits = _models(kind), _splits()
    settings = _settings(*names)
    together = measure_pruning(models, splits, settings)
    for k, model in enumerate(models):
        alone = measure_pruning([model], [splits[k]], settings)[0]
        for a, b in zip(together[k].trajectories, alone.trajectories, strict=True):
            assert a.method == b.method and a.density == b.density
            # batched scores equal the members' own to float rounding (test_scores); no two
            # scores of these seeded weights lie within rounding of a level's cut, so the
            # masks, and the accuracies, are the same
            assert a.val_acc == b.val_acc
        ours, theirs = together[k].fields["ed_by_method"], alone.fields["ed_by_method"]
        assert set(ours) == set(names)
        for name in names:
            # trained members degrade under every criterion, so each ED is a level of its own
            # trajectory, not the last level that a member that never degrades reports
            assert not ours[name]["never_degraded"], name
            assert ours[name]["effective_density"] == theirs[name]["effective_density"], name


def test_a_score_is_computed_once_for_all_its_criteria(monkeypatch, one_thread):
    calls = []
    real = scores_module.SCORES["snip"]
    monkeypatch.setitem(scores_module.SCORES, "snip", scores_module.Score(
        lambda models, data: calls.append(len(models)) or real.function(models, data), True))
    measure_pruning(_models(), _splits(), _settings("snip", "snip_global", "snip_lamp", "snip_lamp_shuffled"))
    assert calls == [2]


def test_a_gradient_criterion_without_the_training_split_is_refused():
    split = MemberSplits(_splits(1)[0].val)
    with pytest.raises(ValueError, match="training split"):
        measure_pruning(_models(n=1), [split], _settings("obd"))


def test_units_record_the_unit_effective_density(one_thread):
    result = measure_pruning(_models(n=1), _splits(1), _settings("units", "magnitude"))[0]
    units = result.fields["ed_by_method"]["units"]
    frame = result.frame()
    rows = frame[frame["method"] == "units"].reset_index(drop=True)
    level = rows.index[rows["density"] == units["effective_density"]][0]
    assert units["unit_effective_density"] == rows["unit_density"][level]
    assert result.fields["unit_effective_density"] == units["unit_effective_density"]
    assert "unit_effective_density" not in result.fields["ed_by_method"]["magnitude"]
