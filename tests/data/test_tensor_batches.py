"""Batch order is a function of (batch seed, epoch) only; data move to the device once."""

import torch

from propensity.data import TensorBatches, epoch_permutation


def _data(n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(n, dtype=torch.float32).view(n, 1), torch.arange(n)


def test_epoch_permutation_depends_on_seed_and_epoch_only() -> None:
    first = epoch_permutation(100, seed=3, epoch=2)
    assert torch.equal(first, epoch_permutation(100, seed=3, epoch=2))
    assert torch.equal(first.sort().values, torch.arange(100))
    assert not torch.equal(first, epoch_permutation(100, seed=3, epoch=3))
    assert not torch.equal(first, epoch_permutation(100, seed=4, epoch=2))


def test_shuffled_epoch_visits_every_sample_once_in_the_seeded_order() -> None:
    x, y = _data(10)
    batches = TensorBatches(x, y, batch_size=4, shuffle=True, seed=7)
    assert len(batches) == 3
    for epoch in range(3):
        drawn = list(batches)
        assert [len(b[1]) for b in drawn] == [4, 4, 2]
        order = torch.cat([b[1] for b in drawn])
        assert torch.equal(order, epoch_permutation(10, 7, epoch))
        assert torch.equal(torch.cat([b[0] for b in drawn]).view(-1), order.float())


def test_epoch_source_overrides_the_internal_count() -> None:
    x, y = _data(10)
    batches = TensorBatches(x, y, batch_size=3, shuffle=True, seed=1, epoch=lambda: 5)
    for _ in range(2):
        assert torch.equal(torch.cat([b[1] for b in batches]), epoch_permutation(10, 1, 5))


def test_iter_without_next_is_not_an_epoch() -> None:
    # Lightning calls iter() once just to check that a dataloader is iterable.
    x, y = _data(10)
    batches = TensorBatches(x, y, batch_size=10, shuffle=True, seed=0)
    iter(batches)
    assert torch.equal(next(iter(batches))[1], epoch_permutation(10, 0, 0))


def test_unshuffled_batches_are_stored_order_slices() -> None:
    x, y = _data(10)
    drawn = list(TensorBatches(x, y, batch_size=4))
    assert [b[1].tolist() for b in drawn] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert drawn[0][0].data_ptr() == x.data_ptr()  # views, no copy


def test_tensors_move_to_the_device_once_on_first_iteration() -> None:
    x, y = _data(10)
    asked = []

    def device() -> torch.device:
        asked.append(True)
        return torch.device("meta")

    batches = TensorBatches(x, y, batch_size=4, shuffle=True, device=device)
    assert batches.x.device.type == "cpu" and not asked  # lazy
    first = next(iter(batches))
    assert first[0].device.type == "meta" and first[1].device.type == "meta"
    moved = batches.x
    assert moved.device.type == "meta"
    list(batches)
    assert batches.x is moved  # not copied again
