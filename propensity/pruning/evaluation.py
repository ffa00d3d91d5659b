"""The one evaluation of this project: K models' accuracy and cross-entropy on their splits.

Every number measured without training goes through `evaluate`: the validation metrics of a
cohort's epoch, the test metrics of every run, and each level of a pruning trajectory
(section 3.2). A forward maps a batch of ``K x B x ...`` inputs to ``K x B x classes``
logits, so one model is the case K = 1 (`one_model`, `batches_of`) and a cohort's stacked
members are the same call with K > 1; a model of one evaluates exactly as it did on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

Forward = Callable[[torch.Tensor], torch.Tensor]


def member_losses(logits: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Each member's cross-entropy over its batch (``K``), mean or sum as `reduction` says.

    One member makes the single model's own call (values and gradients bitwise those of
    ``F.cross_entropy(logits, y)``); K members one call on the ``(K*B) x classes`` rows.
    """
    k, b = y.shape
    if k == 1:
        return F.cross_entropy(logits[0], y[0], reduction=reduction).unsqueeze(0)
    losses = F.cross_entropy(logits.reshape(k * b, -1), y.reshape(-1), reduction="none").view(k, b)
    return losses.mean(dim=1) if reduction == "mean" else losses.sum(dim=1)


@dataclass
class Totals:
    """Per member: correct predictions, summed cross-entropy, and (when asked) the loss as
    torchmetrics' ``MeanMetric`` averages it: batch means weighted by batch size, in float32."""

    correct: torch.Tensor
    loss_sum: torch.Tensor
    samples: int
    loss_mean: torch.Tensor | None = None

    def accuracy(self) -> list[float]:
        """correct / samples in float32, as ``MulticlassAccuracy(average="micro")`` divides."""
        return (self.correct.to(torch.float32) / self.samples).tolist()

    def mean_loss(self) -> list[float]:
        """The sample-weighted mean of the batches' mean losses (needs ``mean=True``)."""
        if self.loss_mean is None:
            raise ValueError("evaluate(..., mean=True) computes the mean loss")
        return self.loss_mean.tolist()

    def sums(self) -> torch.Tensor:
        """``K x (correct, summed cross-entropy)`` in float64: a pruning level's totals."""
        return torch.stack([self.correct.to(torch.float64), self.loss_sum], dim=1)


@torch.no_grad()
def evaluate(
    forward: Forward, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], mean: bool = False
) -> Totals:
    """`Totals` of ``forward`` over `batches` of ``K x B`` samples (each member its own rows).

    Sums accumulate in float64 from each batch's float32 cross-entropy sum; with `mean`, the
    loss is also averaged as the Lightning module's validation and test metrics average it,
    so a run's numbers do not depend on which engine measured them.
    """
    correct = loss_sum = weighted = None
    samples = 0
    for x, y in batches:
        logits = forward(x)
        hits = (logits.argmax(dim=2) == y).sum(dim=1)
        summed = member_losses(logits.float(), y, "sum").to(torch.float64)
        if correct is None:
            correct, loss_sum = hits, summed
            weighted = torch.zeros(len(y), device=y.device) if mean else None
        else:
            correct, loss_sum = correct + hits, loss_sum + summed
        if weighted is not None:
            weighted += member_losses(logits, y, "mean") * y.shape[1]
        samples += y.shape[1]
    if correct is None or loss_sum is None:
        raise ValueError("evaluate needs at least one batch")
    return Totals(correct, loss_sum, samples, None if weighted is None else weighted / samples)


def one_model(model: nn.Module) -> Forward:
    """The forward of a single model as a forward of one member (``1 x B x ...`` inputs)."""
    return lambda x: model(x[0]).unsqueeze(0)


def batches_of(x: torch.Tensor, y: torch.Tensor, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One split in stored order, `size` samples a batch, as batches of one member."""
    for start in range(0, len(x), size):
        yield x[start : start + size].unsqueeze(0), y[start : start + size].unsqueeze(0)
