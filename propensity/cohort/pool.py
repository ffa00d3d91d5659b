"""The members' data as one tensor and their batches as one gather (section 3.1 splits)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


class Pool:
    """The members' split tensors concatenated once, each member an offset into them.

    Members of one data seed share one split object, so it is held once; a batch of all
    members is one gather, ``source[K x B indices]``.
    """

    def __init__(self, xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor]) -> None:
        unique: dict[int, int] = {}
        parts: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.offsets = []
        offset = 0
        for x, y in zip(xs, ys, strict=True):
            if id(x) not in unique:
                unique[id(x)] = offset
                parts.append((x, y))
                offset += len(x)
            self.offsets.append(unique[id(x)])
        sizes = {len(x) for x in xs}
        if len(sizes) != 1:
            raise ValueError(f"members' splits differ in size {sorted(sizes)}; a cohort shares data.val_size")
        self.n = sizes.pop()
        self.x = parts[0][0] if len(parts) == 1 else torch.cat([x for x, _ in parts])
        self.y = parts[0][1] if len(parts) == 1 else torch.cat([y for _, y in parts])

    def to(self, device: torch.device) -> Pool:
        self.x, self.y = self.x.to(device), self.y.to(device)
        return self

    def index(self, members: Sequence[int], orders: torch.Tensor | None = None) -> torch.Tensor:
        """``K x n`` positions in the pool: each member's split in `orders` (or stored order)."""
        base = orders if orders is not None else torch.arange(self.n).expand(len(members), -1)
        offsets = torch.tensor([self.offsets[m] for m in members]).unsqueeze(1)
        return (base + offsets).to(self.x.device)

    def batches(self, index: torch.Tensor, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``K x B`` batches of `index`'s columns; when every member reads the same rows (one
        shared split in stored order, as in evaluation) a slice expanded over K, no gather."""
        if bool((index == index[:1]).all()):
            k = index.shape[0]
            for start in range(0, index.shape[1], size):
                rows = index[0, start : start + size]
                lo, hi = int(rows[0]), int(rows[-1]) + 1
                x, y = (self.x[lo:hi], self.y[lo:hi]) if hi - lo == len(rows) else (
                    self.x[rows], self.y[rows])
                yield x.unsqueeze(0).expand(k, *x.shape), y.unsqueeze(0).expand(k, -1)
            return
        for start in range(0, index.shape[1], size):
            idx = index[:, start : start + size]
            yield self.x[idx], self.y[idx]
