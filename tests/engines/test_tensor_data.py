"""The Lightning engine (`fit_one`) trains from a tensor data module through `TensorData`, in
the order (batch_seed, epoch) decides; a resumed epoch draws the batches of an uninterrupted run."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from propensity.data import DigitsDataModule, SyntheticDataModule, epoch_permutation
from propensity.engines.lightning import TensorData
from tests.engines.conftest import lightning_fit


class Recorder(nn.Module):
    """A linear classifier that remembers the inputs of every training batch, and counts the
    evaluation batches, that the engine's Classifier runs through it."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.linear = nn.Linear(features, classes)
        self.seen: list[torch.Tensor] = []
        self.eval_batches = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(x.detach().clone())
        else:
            self.eval_batches += 1
        return self.linear(x.flatten(1))


def test_fit_and_test_on_synthetic_follow_the_seeded_order(tmp_path) -> None:
    dm = SyntheticDataModule(input_shape=(1, 4, 4), train_size=200, val_size=40, batch_seed=3)
    dm.prepare_data()
    dm.setup()
    model = Recorder(16, dm.num_classes)
    fitted = lightning_fit(model, dm, 2, tmp_path, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    assert len(model.seen) == 2 * 3  # 160 training images, 64 per batch, two epochs
    for epoch in range(2):
        drawn = torch.cat(model.seen[3 * epoch : 3 * epoch + 3])
        assert torch.equal(drawn, dm.x_train[epoch_permutation(160, 3, epoch)])
    assert model.eval_batches == 2  # one large validation batch per epoch
    fitted.trainer.test(fitted.module, datamodule=TensorData(dm))
    assert model.eval_batches == 3


def test_fit_on_digits_learns(tmp_path) -> None:
    dm = DigitsDataModule(batch_size=128)
    dm.setup()
    model = Recorder(64, dm.num_classes)
    lightning_fit(model, dm, 3, tmp_path, optimizer=lambda p: torch.optim.SGD(p, lr=0.1))
    with torch.no_grad():
        accuracy = (model.linear(dm.x_val.flatten(1)).argmax(1) == dm.y_val).float().mean()
    assert accuracy > 0.8


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_are_drawn_on_the_gpu(tmp_path) -> None:
    dm = SyntheticDataModule(input_shape=(1, 4, 4), train_size=200, val_size=40)
    dm.setup()
    model = Recorder(16, dm.num_classes)
    fitted = lightning_fit(model, dm, 1, tmp_path, accelerator="gpu")
    assert fitted.device.startswith("cuda")
    assert {x.device.type for x in model.seen} == {"cuda"}
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
