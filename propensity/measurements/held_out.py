"""The test metrics of K trained models, measured once after training (section 3.1's test set)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from propensity.cohort import Pool, stack, stack_refusal
from propensity.pruning.evaluation import batches_of, evaluate, one_model

Split = tuple[torch.Tensor, torch.Tensor]


def measure_test(
    models: Sequence[nn.Module], splits: Sequence[Split], batch_size: int
) -> list[tuple[float, float]]:
    """Each model's ``(test loss, test accuracy)`` on its split, `batch_size` samples a forward.

    In eval mode, the loss averaged as the Lightning module's test loop averages it, so one
    model's numbers are those it has always recorded; K > 1 models of one class go through one
    stacked forward a batch. The models' modes are restored.
    """
    if len(splits) != len(models):
        raise ValueError(f"{len(models)} models but {len(splits)} test splits")
    modes = [{m: m.training for m in model.modules()} for model in models]
    try:
        for model in models:
            model.eval()
        if len(models) > 1 and stack_refusal(models) is None:
            pool = Pool([x for x, _ in splits], [y for _, y in splits])
            totals = evaluate(stack(models).to(pool.x.device).eval(),
                              pool.batches(pool.index(range(len(models))), batch_size), mean=True)
            return list(zip(totals.mean_loss(), totals.accuracy(), strict=True))
        out = []
        for model, (x, y) in zip(models, splits, strict=True):
            totals = evaluate(one_model(model), batches_of(x, y, batch_size), mean=True)
            out.append((totals.mean_loss()[0], totals.accuracy()[0]))
        return out
    finally:
        for mode in modes:
            for module, training in mode.items():
                module.training = training
