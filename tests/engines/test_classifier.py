"""The Classifier's training step: one minibatch or a whole epoch, the same numbers."""

import torch

from propensity.data import SyntheticDataModule
from propensity.engines.classifier import Classifier
from propensity.models import MLP, initialize
from tests.engines.conftest import lightning_fit


def fit(whole_epoch: bool, tmp_path) -> tuple[Classifier, list[dict[str, float]]]:
    dm = SyntheticDataModule(train_size=300, val_size=60, test_size=30, batch_size=32,
                             whole_epoch=whole_epoch, batch_seed=5)
    model = initialize(MLP(0.2, dm.input_shape, dm.num_classes), "he", 1)
    fitted = lightning_fit(model, dm, 3, tmp_path / str(whole_epoch),
                           optimizer=lambda p: torch.optim.Adam(p, lr=1e-3))
    return fitted.module, fitted.result.history


def test_whole_epoch_steps_equal_per_batch_steps_bit_for_bit(tmp_path) -> None:
    per_batch, rows_a = fit(False, tmp_path)
    whole, rows_b = fit(True, tmp_path)
    assert rows_a == rows_b
    for (name, a), (_, b) in zip(per_batch.state_dict().items(), whole.state_dict().items(),
                                 strict=True):
        assert torch.equal(a, b), name
    assert per_batch.trainer.global_step == whole.trainer.global_step == 3 * 8  # 240 samples, batches of 32


def test_epoch_metrics_are_means_over_samples(tmp_path) -> None:
    module, rows = fit(True, tmp_path)
    assert module.train_count == 240  # 300 minus the 60 validation samples
    assert 0 <= rows[-1]["train_acc"] <= 1 and rows[-1]["train_loss"] > 0
    assert set(rows[-1]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc"}
