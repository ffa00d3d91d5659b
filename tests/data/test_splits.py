"""Section 3.1's splits: sizes, disjointness, and determinism by data_seed alone."""

from collections.abc import Callable

import pytest
import torch

from propensity.data import (
    CIFAR10DataModule,
    DigitsDataModule,
    MNISTDataModule,
    SyntheticDataModule,
    split_indices,
)


def test_split_indices_partition_the_training_set() -> None:
    train, val = split_indices(100, 30, data_seed=4)
    assert len(train) == 70 and len(val) == 30
    assert torch.equal(torch.cat([train, val]).sort().values, torch.arange(100))
    again_train, again_val = split_indices(100, 30, data_seed=4)
    assert torch.equal(train, again_train) and torch.equal(val, again_val)
    assert not torch.equal(val, split_indices(100, 30, data_seed=5)[1])


def _synthetic(**kwargs: int) -> SyntheticDataModule:
    dm = SyntheticDataModule(input_shape=(2, 3, 3), train_size=200, val_size=50, **kwargs)
    dm.setup()
    return dm


def test_synthetic_split_is_decided_by_data_seed_alone() -> None:
    dm = _synthetic(data_seed=1, batch_seed=0)
    assert dm.x_train.shape == (150, 2, 3, 3) and dm.x_val.shape == (50, 2, 3, 3)
    assert dm.x_test.shape == (128, 2, 3, 3)
    assert dm.y_train.dtype == torch.int64 and dm.x_train.dtype == torch.float32
    assert set(dm.train_indices.tolist()).isdisjoint(dm.val_indices.tolist())
    same = _synthetic(data_seed=1, batch_seed=9)
    assert torch.equal(dm.val_indices, same.val_indices) and torch.equal(dm.x_val, same.x_val)
    other = _synthetic(data_seed=2)
    assert not torch.equal(dm.val_indices, other.val_indices)
    assert torch.equal(dm.x_test, other.x_test)  # the test set never depends on data_seed here


def test_synthetic_labels_come_from_a_linear_teacher() -> None:
    dm = _synthetic()
    x = torch.cat([dm.x_train, dm.x_val]).flatten(1)
    y = torch.cat([dm.y_train, dm.y_val])
    assert len(y.unique()) > 2  # not degenerate
    # A linear model fits a linear teacher's labels far above chance.
    w = torch.zeros(x.shape[1], dm.num_classes, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(x @ w, y).backward()
        opt.step()
    assert ((x @ w).argmax(1) == y).float().mean() > 0.9


def test_digits_three_way_split() -> None:
    dm = DigitsDataModule(data_seed=3)
    assert dm.input_shape == (1, 8, 8) and dm.num_classes == 10
    dm.setup()
    assert (len(dm.x_train), len(dm.x_val), len(dm.x_test)) == (1197, 300, 300)
    assert dm.x_train.shape[1:] == (1, 8, 8)
    train = set(dm.pool_indices[dm.train_indices].tolist())
    val = set(dm.pool_indices[dm.val_indices].tolist())
    test = set(dm.test_indices.tolist())
    assert not (train & val or train & test or val & test)
    assert len(train | val | test) == 1797
    everything = torch.cat([dm.x_train, dm.x_val, dm.x_test])
    assert everything.mean().abs() < 0.01 and (everything.std() - 1).abs() < 0.01
    other = DigitsDataModule(data_seed=4)
    other.setup()
    assert not torch.equal(dm.test_indices, other.test_indices)
    again = DigitsDataModule(data_seed=3, batch_seed=5)
    again.setup()
    assert torch.equal(dm.x_val, again.x_val) and torch.equal(dm.y_test, again.y_test)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: MNISTDataModule(val_size=70_000),
            "data.val_size=70000 is not smaller than the 60000 training images of mnist; "
            "lower data.val_size",
        ),
        (lambda: CIFAR10DataModule(val_size=50_000), "data.val_size=50000 is not smaller"),
        (lambda: DigitsDataModule(val_size=1497), "the 1497 training images of digits"),
        (lambda: DigitsDataModule(data_seed=-1), "data_seed=-1 is negative"),
        (lambda: SyntheticDataModule(batch_seed=-2), "batch_seed=-2 is negative"),
        (lambda: SyntheticDataModule(batch_size=0), "data.batch_size=0 must be at least 1"),
        (lambda: DigitsDataModule(test_size=1797), "data.test_size=1797"),
    ],
)
def test_bad_settings_fail_at_construction_in_one_line(
    build: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        build()
    assert message in str(caught.value) and "\n" not in str(caught.value)
