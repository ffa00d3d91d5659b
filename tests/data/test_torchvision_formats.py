"""MNIST and CIFAR-10 read through torchvision from small files in the official formats."""

from pathlib import Path

import numpy as np
import pytest
import torch

from propensity.data import CIFAR10DataModule, DatasetNotFoundError, MNISTDataModule
from propensity.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD
from propensity.data.mnist import MNIST_MEAN, MNIST_STD

Written = tuple[Path, dict[str, np.ndarray]]


def _pixels(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """Undo the normalization: back to the uint8 values on disk."""
    shape = (1, -1, 1, 1)
    raw = (x * torch.tensor(std).view(shape) + torch.tensor(mean).view(shape)) * 255
    return raw.round().to(torch.uint8).numpy()


def test_mnist_round_trip(mnist_root: Written) -> None:
    root, written = mnist_root
    dm = MNISTDataModule(root=root, val_size=20, data_seed=1)
    dm.prepare_data()
    dm.setup()
    assert (dm.input_shape, dm.num_classes) == ((1, 28, 28), 10)
    assert dm.x_train.shape == (100, 1, 28, 28) and dm.x_val.shape == (20, 1, 28, 28)
    assert dm.x_test.shape == (30, 1, 28, 28)
    assert dm.x_train.dtype == torch.float32 and dm.y_train.dtype == torch.int64
    images, labels = written["train_images"][:, None], written["train_labels"]
    for x, y, idx in (
        (dm.x_train, dm.y_train, dm.train_indices),
        (dm.x_val, dm.y_val, dm.val_indices),
    ):
        np.testing.assert_array_equal(_pixels(x, MNIST_MEAN, MNIST_STD), images[idx.numpy()])
        np.testing.assert_array_equal(y.numpy(), labels[idx.numpy()])
    test_images = written["test_images"][:, None]
    np.testing.assert_array_equal(_pixels(dm.x_test, MNIST_MEAN, MNIST_STD), test_images)
    np.testing.assert_array_equal(dm.y_test.numpy(), written["test_labels"])
    # Uniform random bytes have mean 127.5/255 and std ~73.9/255: check the scaling used.
    assert dm.x_train.mean().item() == pytest.approx((0.5 - 0.1307) / 0.3081, abs=0.02)


def test_mnist_split_by_data_seed(mnist_root: Written) -> None:
    root, _ = mnist_root
    splits = []
    for seed in (0, 0, 1):
        dm = MNISTDataModule(root=root, val_size=20, data_seed=seed)
        dm.setup()
        assert set(dm.train_indices.tolist()).isdisjoint(dm.val_indices.tolist())
        assert len(set(dm.train_indices.tolist()) | set(dm.val_indices.tolist())) == 120
        splits.append(dm.val_indices)
    assert torch.equal(splits[0], splits[1]) and not torch.equal(splits[0], splits[2])


def test_mnist_val_size_checked_against_the_files(mnist_root: Written) -> None:
    root, _ = mnist_root
    dm = MNISTDataModule(root=root, val_size=120)
    with pytest.raises(ValueError, match=r"data\.val_size=120 is not smaller than the 120 "):
        dm.setup()


def test_missing_mnist_names_path_and_fix(tmp_path: Path) -> None:
    dm = MNISTDataModule(root=tmp_path / "nowhere")
    dm.prepare_data()  # no download asked: nothing to do
    with pytest.raises(DatasetNotFoundError) as caught:
        dm.setup()
    expected = (
        f"MNIST not found under {tmp_path / 'nowhere' / 'MNIST' / 'raw'}; run with "
        "data.download=true on a machine with internet, set DATA_DIR, or use data=digits"
    )
    assert str(caught.value) == expected
    assert isinstance(caught.value, FileNotFoundError)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_root_defaults_to_data_dir(mnist_root: Written, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = mnist_root
    monkeypatch.setenv("DATA_DIR", str(root))
    dm = MNISTDataModule(val_size=20)
    assert dm.root == root
    dm.setup()
    assert len(dm.x_train) == 100
    monkeypatch.delenv("DATA_DIR")
    assert MNISTDataModule().root == Path("data")


def test_cifar10_round_trip(cifar_root: Written) -> None:
    root, written = cifar_root
    dm = CIFAR10DataModule(root=root, val_size=30, data_seed=2, verify_checksums=False)
    dm.prepare_data()
    dm.setup()
    assert (dm.input_shape, dm.num_classes) == ((3, 32, 32), 10)
    assert dm.x_train.shape == (70, 3, 32, 32) and dm.x_val.shape == (30, 3, 32, 32)
    assert dm.x_test.shape == (25, 3, 32, 32) and dm.x_train.is_contiguous()
    images, labels = written["train_images"], written["train_labels"]
    for x, y, idx in (
        (dm.x_train, dm.y_train, dm.train_indices),
        (dm.x_val, dm.y_val, dm.val_indices),
    ):
        np.testing.assert_array_equal(_pixels(x, CIFAR10_MEAN, CIFAR10_STD), images[idx.numpy()])
        np.testing.assert_array_equal(y.numpy(), labels[idx.numpy()])
    np.testing.assert_array_equal(
        _pixels(dm.x_test, CIFAR10_MEAN, CIFAR10_STD), written["test_images"]
    )
    np.testing.assert_array_equal(dm.y_test.numpy(), written["test_labels"])
    assert set(dm.train_indices.tolist()).isdisjoint(dm.val_indices.tolist())
    # Each channel is standardized with its own statistics.
    channel_means = dm.x_train.mean(dim=(0, 2, 3))
    expected = (0.5 - torch.tensor(CIFAR10_MEAN)) / torch.tensor(CIFAR10_STD)
    assert torch.allclose(channel_means, expected, atol=0.02)


def test_cifar10_checksums_are_verified_by_default(cifar_root: Written) -> None:
    root, _ = cifar_root
    with pytest.raises(DatasetNotFoundError, match="fails its checksum"):
        CIFAR10DataModule(root=root, val_size=30).setup()


def test_missing_cifar10_names_path_and_fix(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as caught:
        CIFAR10DataModule(root=tmp_path, verify_checksums=False).setup()
    message = str(caught.value)
    assert f"under {tmp_path / 'cifar-10-batches-py'};" in message
    assert "data.download=true" in message and "data=digits" in message
