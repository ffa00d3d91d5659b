"""The stop rules of section 3.1: their verdicts, and the Lightning engine applying them."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from propensity.data import SyntheticDataModule
from propensity.engines.stopping import RestoreBestValLoss, StopAtTrainLoss, TrainForEpochs
from propensity.models import MLP, initialize
from tests.engines.conftest import lightning_fit


def test_train_loss_rule_stops_at_the_first_epoch_at_or_below_its_target() -> None:
    rule = StopAtTrainLoss(target=0.5)
    verdicts = [rule.after_epoch(e, {"train_loss": loss}, 10) for e, loss in enumerate([0.9, 0.6, 0.5], 1)]
    assert [v.stop for v in verdicts] == [False, False, True]
    assert rule.target_met and rule.stop_epoch == 3 and rule.stopped_early


def test_epochs_rule_meets_its_target_at_max_epochs_only() -> None:
    rule = TrainForEpochs()
    assert not rule.after_epoch(2, {}, 3).stop and not rule.target_met
    rule.after_epoch(3, {}, 3)
    assert rule.target_met and rule.stop_epoch == 3


def test_val_loss_rule_keeps_the_lowest_epoch_and_restores_it() -> None:
    rule = RestoreBestValLoss()
    best = [rule.after_epoch(e, {"val_loss": v}, 5).best for e, v in enumerate([1.0, 0.7, 0.8, 0.6, 0.6], 1)]
    assert best == [True, True, False, True, False] and rule.stop_epoch == 4
    assert not rule.target_met
    rule.fit_ended(restored=True)
    assert rule.target_met


def test_rule_state_round_trips() -> None:
    rule = RestoreBestValLoss()
    rule.after_epoch(1, {"val_loss": 0.3}, 5)
    again = RestoreBestValLoss()
    again.load_state_dict(rule.state_dict())
    assert again.state_dict() == rule.state_dict() == {"stop_epoch": 1, "target_met": False,
                                                       "best_val_loss": 0.3}


class Snapshots(L.Callback):
    """The weights at the end of every epoch, to compare with what a stop rule restores."""

    def __init__(self) -> None:
        self.states: dict[int, dict[str, torch.Tensor]] = {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.states[trainer.current_epoch + 1] = {
            k: v.detach().clone() for k, v in pl_module.state_dict().items()
        }


@pytest.fixture
def data() -> SyntheticDataModule:
    dm = SyntheticDataModule(train_size=256, val_size=64, test_size=32, batch_size=32)
    dm.setup()
    return dm


def model(dm: SyntheticDataModule) -> torch.nn.Module:
    return initialize(MLP(0.2, dm.input_shape, dm.num_classes), "glorot", 0)


def test_lightning_stops_where_the_train_loss_rule_fires(data, tmp_path) -> None:
    reference = lightning_fit(model(data), data, 8, tmp_path / "all")
    losses = [r["train_loss"] for r in reference.result.history]
    target = losses[4]
    expected = next(e for e, loss in enumerate(losses, 1) if loss <= target)

    rule = StopAtTrainLoss(target)
    fitted = lightning_fit(model(data), data, 8, tmp_path / "rule", rule)
    assert rule.target_met and rule.stop_epoch == expected == len(fitted.result.history)
    assert fitted.trainer.current_epoch == fitted.result.epochs_trained == expected
    assert [r["train_loss"] for r in fitted.result.history] == losses[:expected]


def test_lightning_restores_the_best_val_loss_epoch(tmp_path) -> None:
    """128 training samples in batches of 8 at SGD rate 0.2: the validation loss falls for two
    epochs, then rises as the model overfits (2.25, 2.19, 2.21, 2.25, 2.34, 2.51 here; the
    minimum leads by 0.018, far beyond float32 rounding), so the rule must bring back epoch 2's
    weights, not keep the last epoch's."""
    data = SyntheticDataModule(train_size=192, val_size=64, test_size=32, batch_size=8)
    data.setup()
    snapshots, rule = Snapshots(), RestoreBestValLoss()
    fitted = lightning_fit(model(data), data, 6, tmp_path, rule, snapshots,
                           optimizer=lambda p: torch.optim.SGD(p, lr=0.2))
    rows = fitted.result.history
    best = min(rows, key=lambda r: r["val_loss"])["epoch"]
    assert 1 < best < 6 and rule.stop_epoch == best and rule.target_met
    restored = fitted.module.state_dict()
    for key, value in snapshots.states[best].items():
        assert torch.equal(restored[key], value), key
    assert not torch.equal(restored["model.fc1.weight"], snapshots.states[6]["model.fc1.weight"])


def test_history_has_one_row_per_epoch(data, tmp_path) -> None:
    lightning_fit(model(data), data, 3, tmp_path)
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,train_acc,val_loss,val_acc" and len(lines) == 4
