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
