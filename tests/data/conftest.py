"""Tiny datasets written in torchvision's on-disk formats, so the real readers are tested."""

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file of uint8 data: magic 0x0000080<ndim>, big-endian dims."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, n_train: int = 120, n_test: int = 30) -> dict[str, np.ndarray]:
    """MNIST's four raw files under ``<root>/MNIST/raw``; returns what was written."""
    rng = np.random.default_rng(1)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    write_idx(raw / "train-images-idx3-ubyte", arrays["train_images"])
    write_idx(raw / "train-labels-idx1-ubyte", arrays["train_labels"])
    write_idx(raw / "t10k-images-idx3-ubyte", arrays["test_images"])
    write_idx(raw / "t10k-labels-idx1-ubyte", arrays["test_labels"])
    return arrays


def write_cifar10(root: Path, per_batch: int = 20, n_test: int = 25) -> dict[str, np.ndarray]:
    """``cifar-10-batches-py`` with five training batches, a test batch and the meta file.

    Rows are 3,072 bytes, channel-major (1,024 red, then green, then blue), as in the
    official pickles; returns the images as N x 3 x 32 x 32 and the labels.
    """
    rng = np.random.default_rng(2)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def dump(name: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, n)
        entry = {"batch_label": name, "data": data, "labels": labels.tolist()}
        (folder / name).write_bytes(pickle.dumps(entry))
        return data.reshape(n, 3, 32, 32), labels

    train = [dump(f"data_batch_{i}", per_batch) for i in range(1, 6)]
    test_images, test_labels = dump("test_batch", n_test)
    names = ["airplane", "automobile", "bird", "cat", "deer"]
    names += ["dog", "frog", "horse", "ship", "truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": names}))
    return {
        "train_images": np.concatenate([images for images, _ in train]),
        "train_labels": np.concatenate([labels for _, labels in train]),
        "test_images": test_images,
        "test_labels": test_labels,
    }


@pytest.fixture
def mnist_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    return tmp_path, write_mnist(tmp_path)


@pytest.fixture
def cifar_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    return tmp_path, write_cifar10(tmp_path)


def write_fashion_mnist(root: Path, n_train: int = 120, n_test: int = 30) -> dict[str, np.ndarray]:
    """Fashion-MNIST's four raw IDX files (MNIST's format) under ``<root>/FashionMNIST/raw``."""
    rng = np.random.default_rng(3)
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    write_idx(raw / "train-images-idx3-ubyte", arrays["train_images"])
    write_idx(raw / "train-labels-idx1-ubyte", arrays["train_labels"])
    write_idx(raw / "t10k-images-idx3-ubyte", arrays["test_images"])
    write_idx(raw / "t10k-labels-idx1-ubyte", arrays["test_labels"])
    return arrays


def write_svhn(root: Path, n_train: int = 90, n_test: int = 20) -> dict[str, np.ndarray]:
    """``train_32x32.mat`` and ``test_32x32.mat`` under ``<root>/svhn``, as the official files:
    ``X`` is H x W x C x N uint8, ``y`` is N x 1 with the digit 0 labelled 10. Returns the
    images as N x 3 x 32 x 32 and the labels as torchvision maps them (10 -> 0)."""
    from scipy.io import savemat

    rng = np.random.default_rng(4)
    folder = root / "svhn"
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(1, 11, n)
        savemat(folder / f"{split}_32x32.mat", {"X": images.transpose(2, 3, 1, 0), "y": labels[:, None]})
        out[f"{split}_images"], out[f"{split}_labels"] = images, np.where(labels == 10, 0, labels)
    return out


def write_cifar100(root: Path, n_train: int = 100, n_test: int = 25) -> dict[str, np.ndarray]:
    """``cifar-100-python`` with its ``train``, ``test`` and ``meta`` pickles (fine and coarse
    labels, 3,072-byte channel-major rows, as the official files)."""
    rng = np.random.default_rng(5)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = rng.integers(0, 100, n)
        entry = {"data": data, "fine_labels": fine.tolist(), "coarse_labels": (fine // 5).tolist()}
        (folder / split).write_bytes(pickle.dumps(entry))
        out[f"{split}_images"], out[f"{split}_labels"] = data.reshape(n, 3, 32, 32), fine
    meta = {"fine_label_names": [f"class{i}" for i in range(100)],
            "coarse_label_names": [f"super{i}" for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta))
    return out
