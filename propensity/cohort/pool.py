"""The members' data as one tensor and their batches as one gather (section 3.1 splits)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn


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
        for start in range(0, index.shape[1], size):
            idx = index[:, start : start + size]
            yield self.x[idx], self.y[idx]


def member_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each member's mean cross-entropy over its batch (``K``)."""
    return F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(dim=1)


@torch.no_grad()
def evaluate(cohort: nn.Module, pool: Pool, index: torch.Tensor, size: int) -> torch.Tensor:
    """``K x (correct, summed cross-entropy)`` of each member on its split, in eval mode."""
    total = torch.zeros(index.shape[0], 2, dtype=torch.float64, device=pool.x.device)
    for x, y in pool.batches(index, size):
        logits = cohort(x)
        total[:, 0] += (logits.argmax(dim=2) == y).sum(dim=1)
        total[:, 1] += F.cross_entropy(logits.float().transpose(1, 2), y, reduction="none").sum(1)
    return total
