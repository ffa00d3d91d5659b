"""A debug run's limits on batches, counted as Lightning counts them, for the engine that does
not read them from a Trainer config (the stacked engine) and for the test metrics."""

from __future__ import annotations

import pytest

from propensity.engines.limits import BatchLimits, batch_limits


def test_an_int_is_a_count_and_a_float_a_fraction_of_the_batches() -> None:
    limits = BatchLimits(train=3, val=0.5, test=None)
    assert limits.count("train", 10) == 3 and limits.count("train", 2) == 2
    assert limits.count("val", 10) == 5 and limits.count("val", 3) == 1  # int(1.5)
    assert limits.count("test", 7) == 7


def test_a_fraction_that_keeps_no_batch_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match=r"trainer.limit_val_batches=0.01: .* use at least 0.1"):
        BatchLimits(val=0.01).count("val", 10)


def test_samples_are_whole_batches_at_most_the_split() -> None:
    assert BatchLimits(test=2).samples("test", 1000, 64) == 128
    assert BatchLimits(test=2).samples("test", 100, 64) == 100


def test_train_batches_are_none_when_the_limit_keeps_every_batch() -> None:
    assert BatchLimits().train_batches(1000, 64, whole_epoch=False) is None
    assert BatchLimits(train=100).train_batches(1000, 64, whole_epoch=False) is None  # 16 batches
    assert BatchLimits(train=0.25).train_batches(1000, 64, whole_epoch=False) == 4


def test_a_whole_epoch_is_one_batch_let_through_whole_or_not_at_all() -> None:
    assert BatchLimits(train=3).train_batches(1000, 64, whole_epoch=True) is None
    assert BatchLimits(train=0).train_batches(1000, 64, whole_epoch=True) == 0


def test_debug_modes_set_the_limits_lightning_applies() -> None:
    fast = batch_limits({"fast_dev_run": True})
    assert (fast.train, fast.val, fast.test, fast.max_epochs) == (1, 1, 1, 1)
    assert not fast.checkpoints and not fast.logging
    overfit = batch_limits({"overfit_batches": 2, "limit_test_batches": 0.5})
    assert (overfit.train, overfit.val, overfit.test, overfit.checkpoints) == (2, 2, 0.5, True)
    plain = batch_limits({"limit_train_batches": 5})
    assert (plain.train, plain.val, plain.test) == (5, None, None)
