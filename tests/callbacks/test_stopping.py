"""The stop rules of section 3.1 on synthetic data, through a real Lightning Trainer."""

from __future__ import annotations

import lightning as L
import torch

from propensity.callbacks import EpochHistory, RestoreBestValLoss, StopAtTrainLoss, TrainForEpochs
from propensity.data import SyntheticDataModule
from propensity.models import MLP, initialize
from propensity.module import Classifier


class Snapshots(L.Callback):
    """The weights at the end of every epoch, to compare with what a stop rule restores."""

    def __init__(self) -> None:
        self.states: dict[int, dict[str, torch.Tensor]] = {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.states[trainer.current_epoch + 1] = {
            k: v.detach().clone() for k, v in pl_module.state_dict().items()
        }


def fit(rule: L.Callback, epochs: int, tmp_path, *extra: L.Callback):
    dm = SyntheticDataModule(train_size=256, val_size=64, test_size=32, batch_size=32)
    model = initialize(MLP(0.2, dm.input_shape, dm.num_classes), "glorot", 0)
    module = Classifier(model, lambda p: torch.optim.SGD(p, lr=0.05), dm.num_classes)
    history = EpochHistory(tmp_path / "history.csv")
    trainer = L.Trainer(
        max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        callbacks=[rule, history, *extra],
    )
    trainer.fit(module, datamodule=dm)
    return trainer, module, history.frame()


def test_train_loss_rule_stops_after_first_epoch_at_or_below_target(tmp_path) -> None:
    _, _, reference = fit(TrainForEpochs(), 8, tmp_path)
    target = float(reference.train_loss.iloc[4])
    expected = int(reference.epoch[reference.train_loss <= target].iloc[0])

    rule = StopAtTrainLoss(target)
    trainer, _, history = fit(rule, 8, tmp_path)

    assert rule.target_met and rule.stop_epoch == expected == len(history)
    assert trainer.current_epoch == expected
    assert history.train_loss.tolist() == reference.train_loss.iloc[:expected].tolist()


def test_train_loss_rule_bounded_by_max_epochs(tmp_path) -> None:
    rule = StopAtTrainLoss(target=1e-9)
    _, _, history = fit(rule, 3, tmp_path)
    assert not rule.target_met and rule.stop_epoch == 3 == len(history)


def test_val_loss_min_restores_the_best_epochs_weights(tmp_path) -> None:
    snapshots = Snapshots()
    rule = RestoreBestValLoss()
    _, module, history = fit(rule, 6, tmp_path, snapshots)

    best = int(history.epoch[history.val_loss.idxmin()])
    assert rule.stop_epoch == best and rule.target_met
    restored = module.state_dict()
    for key, value in snapshots.states[best].items():
        assert torch.equal(restored[key], value), key
    if best != 6:
        assert not torch.equal(restored["model.fc1.weight"], snapshots.states[6]["model.fc1.weight"])


def test_history_has_one_row_per_epoch(tmp_path) -> None:
    _, _, history = fit(TrainForEpochs(), 3, tmp_path)
    assert list(history.columns) == ["epoch", "train_loss", "train_acc", "val_loss", "val_acc"]
    assert history.epoch.tolist() == [1, 2, 3]
    assert (tmp_path / "history.csv").read_text().count("\n") == 4
