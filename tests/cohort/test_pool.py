"""The members' data pool: gathers and shared-split slices give the same batches."""

from __future__ import annotations

import torch

from propensity.cohort.pool import Pool


def test_shared_split_in_stored_order_is_sliced_not_gathered() -> None:
    x, y = torch.randn(10, 1, 2, 2), torch.arange(10)
    pool = Pool([x, x, x], [y, y, y])
    assert pool.x is x  # one split object is held once
    index = pool.index([0, 1, 2])
    batches = list(pool.batches(index, 4))
    assert [b[0].shape[:2] for b in batches] == [(3, 4), (3, 4), (3, 2)]
    for start, (xb, yb) in zip((0, 4, 8), batches, strict=True):
        assert xb.stride(0) == 0  # an expanded view
        torch.testing.assert_close(xb, x[start : start + 4].expand(3, -1, -1, -1, -1), rtol=0, atol=0)
        assert torch.equal(yb, y[start : start + 4].expand(3, -1))


def test_members_own_splits_and_orders_are_gathered() -> None:
    xa, xb = torch.randn(6, 3), torch.randn(6, 3)
    ya, yb = torch.arange(6), torch.arange(6) + 10
    pool = Pool([xa, xb], [ya, yb])
    orders = torch.stack([torch.randperm(6), torch.randperm(6)])
    (x, y), = pool.batches(pool.index([0, 1], orders), 6)
    assert torch.equal(x[0], xa[orders[0]]) and torch.equal(x[1], xb[orders[1]])
    assert torch.equal(y[1], yb[orders[1]])
