"""Cohort training: a diverging member leaves, the others train on unchanged."""

from __future__ import annotations

import math

import pytest
import torch

from propensity.cohort import MemberData, fit_stack
from propensity.data import SyntheticDataModule
from propensity.engines.stopping import RestoreBestValLoss, StopAtTrainLoss, TrainForEpochs
from propensity.models import MLP, initialize


@pytest.fixture(scope="module")
def data() -> SyntheticDataModule:
    dm = SyntheticDataModule(train_size=384, val_size=128, batch_size=32)
    dm.setup()
    return dm


def members(dm: SyntheticDataModule, seeds: list[int]) -> list[MemberData]:
    return [MemberData(dm.x_train, dm.y_train, dm.x_val, dm.y_val, seed) for seed in seeds]


def test_a_diverging_member_is_marked_and_the_others_go_on(data: SyntheticDataModule) -> None:
    sgd = lambda p: torch.optim.SGD(p, lr=0.05)  # noqa: E731
    healthy = [initialize(MLP(0.5, (1, 8, 8)), "glorot", s) for s in (0, 2)]
    alone = fit_stack(healthy, members(data, [10, 12]), sgd, [TrainForEpochs() for _ in healthy], 3, 32)

    cohort = [initialize(MLP(0.5, (1, 8, 8)), "glorot", s) for s in (0, 1, 2)]
    with torch.no_grad():
        cohort[1].fc1.weight.fill_(float("inf"))  # member 1's loss is NaN from the first step
    rules = [TrainForEpochs() for _ in cohort]
    results = fit_stack(cohort, members(data, [10, 11, 12]), sgd, rules, 3, 32)

    assert results[1].status == "diverged" and "epoch 0" in results[1].error
    assert len(results[1].history) == 1 and math.isnan(results[1].history[0]["train_loss"])
    for ours, ref, model, ref_model in zip(
        [results[0], results[2]], alone, [cohort[0], cohort[2]], healthy, strict=True
    ):
        assert ours.status == ref.status == "running" and ours.epochs_trained == 3
        for a, b in zip(ours.history, ref.history, strict=True):
            assert a == pytest.approx(b, abs=1e-6)
        for p, q in zip(model.parameters(), ref_model.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-6)


def test_one_stop_rule_per_member() -> None:
    model = initialize(MLP(0.5, (1, 8, 8)), "glorot", 0)
    with pytest.raises(ValueError, match="1 models, 1 members and 2 stop rules"):
        fit_stack([model], [MemberData(*(torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)) * 2, 0)],
            lambda p: torch.optim.SGD(p, lr=0.1), [TrainForEpochs(), TrainForEpochs()], 1, 2)


class _StoppedError(Exception):
    pass


@pytest.mark.parametrize(("rule", "max_epochs", "optim", "stopped"), [
    # member 2 reaches the target after epoch 3, the others after epoch 4
    (lambda: StopAtTrainLoss(target=0.4), 6, lambda p: torch.optim.Adam(p, lr=0.01), 3),
    (RestoreBestValLoss, 5, lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), 2),
])
def test_a_cohort_resumed_from_its_epoch_state_trains_as_if_never_stopped(
    data: SyntheticDataModule, rule, max_epochs: int, optim, stopped: int, tmp_path
) -> None:
    """Stopped by its hook after an epoch and resumed from the saved state (through torch.save
    and a weights-only load), every member's history, outcome and weights equal those of the
    uninterrupted cohort, bitwise; a member that left before the stop stays left."""
    seeds = [0, 1, 2]
    make = lambda: [initialize(MLP(0.5, (1, 8, 8)), "glorot", s) for s in seeds]  # noqa: E731
    whole_models, seen = make(), []
    whole_rules = [rule() for _ in seeds]
    whole = fit_stack(whole_models, members(data, [10, 11, 12]), optim, whole_rules, max_epochs, 32,
                on_epoch=lambda end: seen.append((end.epoch, list(end.active))))
    assert [e for e, _ in seen] == list(range(1, len(seen) + 1))

    rules = [rule() for _ in seeds]

    def interrupt(end) -> None:
        torch.save({**end.state(), "stops": [r.state_dict() for r in rules]}, tmp_path / "last.pt")
        if end.epoch == stopped:
            raise _StoppedError

    with pytest.raises(_StoppedError):
        fit_stack(make(), members(data, [10, 11, 12]), optim, rules, max_epochs, 32, on_epoch=interrupt)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["epoch"] == stopped
    if isinstance(rules[0], StopAtTrainLoss):
        assert state["active"] == [0, 1] and seen[stopped - 1] == (stopped, [0, 1])
    resumed_models, resumed_rules = make(), [rule() for _ in seeds]
    for r, saved in zip(resumed_rules, state["stops"], strict=True):
        r.load_state_dict(saved)
    resumed = fit_stack(resumed_models, members(data, [10, 11, 12]), optim, resumed_rules, max_epochs, 32,
                  resume=state)
    for ours, ref, model, ref_model in zip(resumed, whole, resumed_models, whole_models, strict=True):
        assert ours == ref
        for p, q in zip(model.state_dict().values(), ref_model.state_dict().values(), strict=True):
            assert torch.equal(p, q)
    assert [r.state_dict() for r in resumed_rules] == [r.state_dict() for r in whole_rules]
