"""Fashion-MNIST, SVHN and CIFAR-100 read through torchvision from small files in their formats,
split by data seed, refused in one line when missing, and trained on through the recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from propensity.data import CIFAR100DataModule, DatasetNotFoundError, FashionMNISTDataModule, SVHNDataModule
from propensity.run.recipe import train
from tests.data.conftest import write_cifar100, write_fashion_mnist, write_svhn

# module, writer, the module's keyword arguments, (train, test) sizes written, shape, classes,
# the folder named when the files are missing
CASES = {
    "fashion_mnist": (FashionMNISTDataModule, write_fashion_mnist, {}, (120, 30), (1, 28, 28), 10,
                      "FashionMNIST/raw"),
    "svhn": (SVHNDataModule, write_svhn, {"verify_checksums": False}, (90, 20), (3, 32, 32), 10, "svhn"),
    "cifar100": (CIFAR100DataModule, write_cifar100, {"verify_checksums": False}, (100, 25), (3, 32, 32),
                 100, "cifar-100-python"),
}
LABELS = {"fashion_mnist": "Fashion-MNIST", "svhn": "SVHN", "cifar100": "CIFAR-100"}


def _pixels(x: torch.Tensor, dm) -> np.ndarray:
    """Undo the normalization: back to the uint8 values on disk."""
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in (dm_stats(dm)))
    return ((x * std + mean) * 255).round().to(torch.uint8).numpy()


def dm_stats(dm) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from propensity.data.svhn import SVHN_MEAN, SVHN_STD

    return (SVHN_MEAN, SVHN_STD) if isinstance(dm, SVHNDataModule) else (dm.mean, dm.std)


@pytest.mark.parametrize("name", CASES)
def test_round_trip_through_torchvision(name: str, tmp_path: Path) -> None:
    module, write, kwargs, (n_train, n_test), shape, classes, _ = CASES[name]
    written = write(tmp_path)
    dm = module(root=tmp_path, val_size=20, data_seed=1, **kwargs)
    dm.prepare_data()
    dm.setup()
    assert (dm.input_shape, dm.num_classes) == (shape, classes)
    assert dm.x_train.shape == (n_train - 20, *shape) and dm.x_val.shape == (20, *shape)
    assert dm.x_test.shape == (n_test, *shape) and dm.y_train.dtype == torch.int64
    images = written["train_images"]
    images = images[:, None] if images.ndim == 3 else images
    for x, y, idx in ((dm.x_train, dm.y_train, dm.train_indices), (dm.x_val, dm.y_val, dm.val_indices)):
        np.testing.assert_array_equal(_pixels(x, dm), images[idx.numpy()])
        np.testing.assert_array_equal(y.numpy(), written["train_labels"][idx.numpy()])
    test_images = written["test_images"]
    test_images = test_images[:, None] if test_images.ndim == 3 else test_images
    np.testing.assert_array_equal(_pixels(dm.x_test, dm), test_images)
    np.testing.assert_array_equal(dm.y_test.numpy(), written["test_labels"])


@pytest.mark.parametrize("name", CASES)
def test_validation_split_by_data_seed(name: str, tmp_path: Path) -> None:
    module, write, kwargs, (n_train, _), *_ = CASES[name]
    write(tmp_path)
    splits = []
    for seed in (0, 0, 1):
        dm = module(root=tmp_path, val_size=20, data_seed=seed, **kwargs)
        dm.setup()
        assert set(dm.train_indices.tolist()).isdisjoint(dm.val_indices.tolist())
        assert len(dm.train_indices) + len(dm.val_indices) == n_train
        splits.append(dm.val_indices)
    assert torch.equal(splits[0], splits[1]) and not torch.equal(splits[0], splits[2])


@pytest.mark.parametrize("name", CASES)
def test_missing_files_are_one_line_naming_the_path(name: str, tmp_path: Path) -> None:
    module, _, kwargs, *_, folder = CASES[name]
    with pytest.raises(DatasetNotFoundError) as caught:
        module(root=tmp_path / "nowhere", **kwargs).setup()
    message = str(caught.value)
    assert "\n" not in message and caught.value.__cause__ is None
    assert message.startswith(f"{LABELS[name]} not found")
    assert f"under {tmp_path / 'nowhere' / folder};" in message and "data.download=true" in message


@pytest.mark.parametrize("name", ["svhn", "cifar100"])
def test_checksums_are_verified_by_default(name: str, tmp_path: Path) -> None:
    module, write, *_ = CASES[name]
    write(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="fails its checksum"):
        module(root=tmp_path, val_size=20).setup()


@pytest.mark.parametrize("name", CASES)
def test_each_composes_and_trains_on_its_generated_files(name: str, compose_cfg, tmp_path: Path) -> None:
    """``data=<name>`` as a user composes it, on the generated files: a run trains and records."""
    _, write, kwargs, *_ = CASES[name]
    write(tmp_path / "data")
    unchecked = ["+data.verify_checksums=false"] if kwargs else []
    cfg = compose_cfg(f"data={name}", f"data.root={tmp_path / 'data'}", "data.val_size=20", *unchecked,
                      "width=0.1", "stop=epochs", "stop.max_epochs=1", "logger=none", "pruning.step=0.25")
    record = train(cfg)
    assert record.data == name and record.epochs_trained == 1
    assert record.status in ("finished", "untrained"), record.error
