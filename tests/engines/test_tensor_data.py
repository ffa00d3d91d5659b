"""Lightning 2.x trains from a tensor data module through `TensorData`, in the order
(batch_seed, epoch) decides; a resumed epoch draws the batches of an uninterrupted run."""

from types import SimpleNamespace

import lightning as L
import pytest
import torch
from torch import nn

from propensity.data import DigitsDataModule, SyntheticDataModule, epoch_permutation
from propensity.engines.lightning import TensorData


class Recorder(L.LightningModule):
    """A linear classifier that remembers which labels it saw in each training epoch."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(features, classes)
        self.seen: dict[int, list[torch.Tensor]] = {}
        self.val_batches = 0
        self.test_batches = 0

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        x, y = batch
        self.seen.setdefault(self.current_epoch, []).append(y.clone())
        return nn.functional.cross_entropy(self.linear(x.flatten(1)), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        self.val_batches += 1

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        self.test_batches += 1

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _trainer(epochs: int) -> L.Trainer:
    return L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def test_fit_and_test_on_synthetic_follow_the_seeded_order() -> None:
    dm = SyntheticDataModule(input_shape=(1, 4, 4), train_size=200, val_size=40, batch_seed=3)
    dm.prepare_data()
    dm.setup()
    model = Recorder(16, dm.num_classes)
    trainer = _trainer(epochs=2)
    trainer.fit(model, datamodule=TensorData(dm))
    assert sorted(model.seen) == [0, 1]
    for epoch, batches in model.seen.items():
        assert len(batches) == 3  # 160 training images, 64 per batch
        assert torch.equal(torch.cat(batches), dm.y_train[epoch_permutation(160, 3, epoch)])
    assert model.val_batches == 3  # one large batch in the sanity check and per epoch
    trainer.test(model, datamodule=TensorData(dm))
    assert model.test_batches == 1


def test_fit_on_digits_learns() -> None:
    dm = DigitsDataModule(batch_size=128)
    dm.setup()
    model = Recorder(64, dm.num_classes)
    _trainer(epochs=3).fit(model, datamodule=TensorData(dm))
    with torch.no_grad():
        accuracy = (model.linear(dm.x_val.flatten(1)).argmax(1) == dm.y_val).float().mean()
    assert accuracy > 0.8


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_are_drawn_on_the_gpu() -> None:
    dm = SyntheticDataModule(input_shape=(1, 4, 4), train_size=200, val_size=40)
    model = Recorder(16, dm.num_classes)
    trainer = L.Trainer(
        max_epochs=1, accelerator="gpu", devices=1, logger=False, enable_checkpointing=False
    )
    trainer.fit(model, datamodule=TensorData(dm))
    assert {y.device.type for y in model.seen[0]} == {"cuda"}
    assert dm.x_train.device.type == "cpu"  # the loader holds the device copy


def _synthetic(**kwargs: int) -> SyntheticDataModule:
    dm = SyntheticDataModule(input_shape=(2, 3, 3), train_size=200, val_size=50, **kwargs)
    dm.setup()
    return dm


def test_resumed_epoch_draws_the_batches_of_an_uninterrupted_run() -> None:
    dm = TensorData(_synthetic(batch_seed=6))
    uninterrupted = dm.train_dataloader()
    for _ in range(3):
        list(uninterrupted)
    fourth_epoch = [b[1] for b in uninterrupted]
    resumed = TensorData(_synthetic(batch_seed=6))
    resumed.trainer = SimpleNamespace(
        current_epoch=3, strategy=SimpleNamespace(root_device=torch.device("cpu"))
    )
    resumed_batches = [b[1] for b in resumed.train_dataloader()]
    assert len(resumed_batches) == len(fourth_epoch) == 3  # 150 images, 64 per batch
    assert all(torch.equal(a, b) for a, b in zip(fourth_epoch, resumed_batches, strict=True))
    expected = dm.y_train[epoch_permutation(150, 6, 3)]
    assert torch.equal(torch.cat(resumed_batches), expected)


def test_eval_loaders_are_unshuffled_and_large() -> None:
    dm = TensorData(_synthetic())
    val = dm.val_dataloader()
    assert len(val) == 1
    assert torch.equal(next(iter(val))[1], dm.y_val)
    assert torch.equal(torch.cat([b[1] for b in dm.test_dataloader()]), dm.y_test)
