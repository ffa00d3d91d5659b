"""The post-training pruning trajectory of one model, measured without retraining (section 3.2).

`measure_trajectory` ranks each layer once (`PruningPlan`), then walks the levels in order, zeroing in
place only the weights a level adds to the nested mask (the same values as
``w * (rank >= count)``) and evaluating on validation tensors kept on the model's device.
No deepcopy, no DataLoader, no per-level sort; the original weights and every module's
train/eval mode are restored bitwise afterwards, also when an exception interrupts it.
A cohort's members are swept the same way, batched (`propensity.measurements`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from propensity.pruning.evaluation import batches_of, evaluate, one_model
from propensity.pruning.masks import Method, PruningPlan, Schedule, plan
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.trajectory import Trajectory

Split = tuple[torch.Tensor, torch.Tensor]
# Samples a forward of the pruning sweep (the trajectory's accuracies do not depend on it).
SWEEP_BATCH = 8192


def flat_views(params: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
    """Flat views of the parameters to zero in place (None where one is not contiguous)."""
    return [p.detach().view(-1) if p.is_contiguous() else None for p in params]


@torch.no_grad()
def prune_to_level(
    params: Sequence[torch.Tensor],
    views: Sequence[torch.Tensor | None],
    p: PruningPlan,
    level: int,
    done: torch.Tensor,
) -> torch.Tensor:
    """Zero, in place, the entries `level` prunes beyond `done` (the counts already zeroed
    per layer); return the counts zeroed now. Levels are walked in order: masks are nested."""
    for i, (param, view) in enumerate(zip(params, views, strict=True)):
        lo, hi = int(done[i]), int(p.pruned[level, i])
        if hi <= lo:
            continue
        index = p.orders[i][lo:hi]
        if view is not None:
            view[index] = 0
        else:  # e.g. channels_last: index the logical order through a copy
            flat = param.reshape(-1).clone()
            flat[index] = 0
            param.copy_(flat.view_as(param))
    return p.pruned[level]


@torch.no_grad()
def walk_model(
    model: nn.Module,
    plans: Sequence[PruningPlan],
    splits: Sequence[Split],
    batch_size: int = SWEEP_BATCH,
    bar: object | None = None,
) -> torch.Tensor:
    """``seed x level x split x (correct, summed loss)`` of `model` along each plan.

    The model is evaluated in eval mode (BatchNorm uses its running statistics); its weights
    and every module's mode are restored bitwise afterwards.
    """
    params = [w for _, w in prunable_weights(model)]
    originals = [w.detach().clone() for w in params]
    modes = {m: m.training for m in model.modules()}
    forward = one_model(model)
    runs = []
    try:
        model.eval()
        for p in plans:
            views = flat_views(params)
            done = torch.zeros(len(params), dtype=torch.long)
            rows = []
            for level in range(p.levels):
                done = prune_to_level(params, views, p, level, done)
                rows.append(torch.stack([evaluate(forward, batches_of(x, y, batch_size)).sums()[0]
                                         for x, y in splits]))
                if bar is not None:
                    bar.update(1)
            runs.append(torch.stack(rows).cpu())
            for w, w0 in zip(params, originals, strict=True):
                w.copy_(w0)
    finally:
        for w, w0 in zip(params, originals, strict=True):
            w.copy_(w0)
        for m, training in modes.items():
            m.training = training
    return torch.stack(runs)


def measure_trajectory(
    model: nn.Module,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    step: float = 0.02,
    schedule: Schedule = "original",
    min_density: float = 0.01,
    method: Method = "magnitude",
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    batch_size: int = SWEEP_BATCH,
    mask_seeds: Sequence[int] = (0, 1, 2),
    progress: bool = False,
    progress_delay: float = 3.0,
) -> Trajectory:
    """Accuracy (fraction in [0, 1]) and mean cross-entropy at every pruning level.

    Layer-wise magnitude pruning is the paper's method (section 3.2); ``random`` averages
    the per-level metrics over `mask_seeds` (per-seed spread in ``extra``) and
    ``global_magnitude`` ranks all layers together. The model is evaluated on tensors already
    on its device, `batch_size` samples per forward. With `progress`, a bar appears once
    pruning has run for `progress_delay` seconds, so quick trajectories stay quiet.
    """
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither")
    seeds = list(mask_seeds) if method == "random" else [0]
    if not seeds:
        raise ValueError("method=random needs at least one mask seed")
    plans = [plan(model, method, step, schedule, min_density, seed) for seed in seeds]
    data = [(x_val, y_val)] + ([(x_test, y_test)] if x_test is not None and y_test is not None else [])
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=sum(p.levels for p in plans), desc=f"pruning ({method})", unit="level",
                   delay=progress_delay)
    try:
        runs = walk_model(model, plans, data, batch_size, bar)
    finally:
        if bar is not None:
            bar.close()
    return assemble(plans[0], runs, [len(x) for x, _ in data], method, x_test is not None)


def assemble(
    p0: PruningPlan, runs: torch.Tensor, sizes: Sequence[int], method: str, test: bool
) -> Trajectory:
    """The `Trajectory` of per-level totals ``runs[seed, level, split, (correct, loss)]``.

    Totals become per-sample means over each split's `sizes`; with several mask seeds the
    metrics are their mean and the spread goes to ``extra``. Shared with the cohort sweep,
    which computes the same totals for many models at once.
    """
    per_seed = runs / torch.tensor(sizes, dtype=torch.float64).view(1, 1, -1, 1)
    mean = per_seed.mean(dim=0)
    extra: dict[str, list[float]] = {}
    if runs.shape[0] > 1:
        std = per_seed.std(dim=0)
        extra = {"val_acc_std": std[:, 0, 0].tolist(), "val_loss_std": std[:, 0, 1].tolist()}
    return Trajectory(
        level=list(range(p0.levels)),
        density=[p0.density(k) for k in range(p0.levels)],
        remaining_weights=[p0.remaining(k) for k in range(p0.levels)],
        val_acc=mean[:, 0, 0].tolist(),
        val_loss=mean[:, 0, 1].tolist(),
        test_acc=mean[:, 1, 0].tolist() if test else None,
        test_loss=mean[:, 1, 1].tolist() if test else None,
        method=method,
        extra=extra,
    )
