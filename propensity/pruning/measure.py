"""The post-training pruning trajectory, measured without retraining (section 3.2).

`measure_trajectory` ranks each layer once (`PruningPlan`), then walks the levels in order, zeroing in
place only the weights a level adds to the nested mask (the same values as
``w * (rank >= count)``) and evaluating on validation tensors kept on the model's device.
No deepcopy, no DataLoader, no per-level sort; the original weights and every module's
train/eval mode are restored bitwise afterwards, also when an exception interrupts it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from propensity.pruning.batched import auto_levels, batchable, trajectory_batched
from propensity.pruning.masks import Method, PruningPlan, Schedule, plan
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.trajectory import Trajectory


@torch.no_grad()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 8192
) -> torch.Tensor:
    """``[correct, summed cross-entropy]`` over (x, y) as a device tensor (no host sync)."""
    total = torch.zeros(2, dtype=torch.float64, device=x.device)
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        target = y[start : start + batch_size]
        total[0] += (logits.argmax(dim=1) == target).sum()
        total[1] += F.cross_entropy(logits.float(), target, reduction="sum")
    return total


def _flat_views(params: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
    return [p.detach().view(-1) if p.is_contiguous() else None for p in params]


@torch.no_grad()
def _prune_to(
    params: Sequence[torch.Tensor],
    views: list[torch.Tensor | None],
    p: PruningPlan,
    level: int,
    done: torch.Tensor,
) -> None:
    """Zero the entries `level` prunes beyond `done` (the counts already zeroed), in place."""
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


def _trajectory_of(
    p: PruningPlan,
    model: nn.Module,
    data: list[tuple[torch.Tensor, torch.Tensor]],
    batch_size: int,
    bar: object | None,
) -> torch.Tensor:
    """Per-level ``[split, correct/loss]`` totals for one plan (weights left pruned)."""
    params = [w for _, w in prunable_weights(model)]
    views = _flat_views(params)
    done = torch.zeros(len(params), dtype=torch.long)
    rows = []
    for level in range(p.levels):
        _prune_to(params, views, p, level, done)
        done = p.pruned[level]
        rows.append(torch.stack([evaluate(model, x, y, batch_size) for x, y in data]))
        if bar is not None:
            bar.update(1)
    return torch.stack(rows).cpu()


def measure_trajectory(
    model: nn.Module,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    step: float = 0.02,
    schedule: Schedule = "original",
    min_density: float = 0.01,
    method: Method = "magnitude",
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    batch_size: int = 8192,
    mask_seeds: Sequence[int] = (0, 1, 2),
    progress: bool = False,
    progress_delay: float = 3.0,
    levels_at_once: int = 1,
    memory_budget: int = 2**30,
) -> Trajectory:
    """Accuracy (fraction in [0, 1]) and mean cross-entropy at every pruning level.

    Layer-wise magnitude pruning is the paper's method (section 3.2); ``random`` averages
    the per-level metrics over `mask_seeds` (per-seed spread in ``extra``) and
    ``global_magnitude`` ranks all layers together. The model is evaluated in eval mode
    (BatchNorm uses its running statistics) on tensors already on its device, `batch_size`
    samples per forward. With `progress`, a bar appears once pruning has run for
    `progress_delay` seconds, so quick trajectories stay quiet.

    `levels_at_once` > 1 evaluates that many levels per forward with batched matmuls
    (`propensity.pruning.batched`), which fills a GPU for these small models; 0 picks the
    most levels whose weight copies and one batch's activations fit in `memory_budget`
    bytes. Only the plain `MLP` is batched; other models (and any subclass) silently take
    the sequential path. The batched path only reads the parameters; its accuracies equal
    the sequential ones exactly (identical logits on CPU) and its losses agree to float32
    rounding (relative 1e-6). On a 2-core CPU it showed no consistent gain (see
    ``benchmarks/prune_trajectory.py``), hence the default of 1.
    """
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither")
    params = [w for _, w in prunable_weights(model)]
    seeds = list(mask_seeds) if method == "random" else [0]
    if not seeds:
        raise ValueError("method=random needs at least one mask seed")
    if levels_at_once < 0:
        raise ValueError(f"levels_at_once={levels_at_once} must be >= 0 (0 = auto)")
    plans = [plan(model, method, step, schedule, min_density, seed) for seed in seeds]
    data = [(x_val, y_val)] + ([(x_test, y_test)] if x_test is not None else [])
    at_once = levels_at_once if batchable(model) else 1
    if at_once == 0:
        batch = min(batch_size, max(len(x) for x, _ in data))
        at_once = auto_levels(model, batch, memory_budget, plans[0].levels)
    originals = [w.detach().clone() for w in params]
    modes = {m: m.training for m in model.modules()}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        total = sum(p.levels for p in plans)
        bar = tqdm(total=total, desc=f"pruning ({method})", unit="level", delay=progress_delay)
    try:
        model.eval()
        runs = []
        for p in plans:
            if at_once > 1:  # reads the parameters only
                runs.append(trajectory_batched(p, model, data, batch_size, at_once, bar))
                continue
            runs.append(_trajectory_of(p, model, data, batch_size, bar))
            with torch.no_grad():
                for w, w0 in zip(params, originals, strict=True):
                    w.copy_(w0)
    finally:
        with torch.no_grad():
            for w, w0 in zip(params, originals, strict=True):
                w.copy_(w0)
        for m, training in modes.items():
            m.training = training
        if bar is not None:
            bar.close()
    sizes = [len(x) for x, _ in data]
    return assemble(plans[0], torch.stack(runs), sizes, method, x_test is not None)


def assemble(
    p0: PruningPlan, runs: torch.Tensor, sizes: Sequence[int], method: str, test: bool
) -> Trajectory:
    """The `Trajectory` of per-level totals ``runs[seed, level, split, (correct, loss)]``.

    Totals become per-sample means over each split's `sizes`; with several mask seeds the
    metrics are their mean and the spread goes to ``extra``. Shared with the cohort sweep
    (`propensity.cohort.prune`), which computes the same totals for many models at once.
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
