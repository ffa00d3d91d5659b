"""Benchmark: the project's pruning trajectory against a naive loop (section 3.2's 51 levels).

Run ``.venv/bin/python benchmarks/prune_trajectory.py`` (``--quick`` for a smoke run). For MLP
widths 1 and 5 on 5,000 random validation samples (784 features, 10 classes) it times, in
the same process and interleaved so that load from other processes hits both alike:

(a) naive: per level ``copy.deepcopy(model)``, ``torch.nn.utils.prune.l1_unstructured`` on
    every layer, evaluation through a ``DataLoader(TensorDataset)``;
(b) the project's sweep as the recipe measures one run,
    ``propensity.measurements.pruning.measure_pruning([model], [MemberSplits(val=(x, y))],
    PruningSettings(), batch_size, levels_at_once)`` (rank once, prune in place, one-tensor
    evaluation), once per ``--levels-at-once K`` given (K > 1: K levels per forward of a
    stack of one model, via batched matmuls; 0: as many as fit in 1 GiB by the recipe's
    estimate, `propensity.cohort.memory.MemberBytes.levels_at_once`). ``--device cuda`` runs
    everything on a GPU.

The weights are a random initialisation, not trained ones: timing does not depend on them.
They are redrawn with distinct magnitudes so both methods prune the same entries whatever
their tie-breaking; the script asserts equal accuracy at every level, then prints median
times, the ratio, and the sweep's GFLOP/s against ``torch.mm`` on the same layer shapes.

Measured on the shared 2-core CPU (load ~4 from other jobs, median of 3): width 1 naive
8.45 s, sweep 1.28 s (6.6x, 106 GFLOP/s = 92% of torch.mm); width 5 naive 92.6 s, sweep
19.8 s (4.7x, 50 GFLOP/s = 88%). The naive loop's cost beyond the matmuls is mostly
``l1_unstructured``'s top-k at every level and the mask hook at every batch.

These figures, and those below, were measured before the one-recipe refactor, when (b) was
``measure_trajectory(..., levels_at_once=K)``: the same plan and walk for K = 1, and for
K > 1 the MLP's own batched-matmul pass where the stack-of-one walk now runs.

Levels at once (``--levels-at-once 1 8``, same CPU, no GPU lent): no consistent gain. In
the full benchmark (median of 3) K=8 took 1.46 s vs 1.86 s for K=1 at width 1 and 8.89 s
vs 9.69 s at width 5, but a sweep-only rerun on a quieter machine (median of 5 and 3) gave
the opposite, K=1 1.16 s vs K=8 1.32 s at width 1 and 7.80 s vs 8.28 s at width 5; K=4,
16 and auto (0) fared like K=8. The CPU's matmuls are already near ``torch.mm``'s rate
one level at a time, so batching can only pay where one level's matmuls leave a GPU idle.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, TensorDataset

from propensity.cohort.memory import GIB, member_bytes
from propensity.measurements.pruning import MemberSplits, measure_pruning
from propensity.models import MLP
from propensity.pruning.masks import kept_count, last_level
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.settings import PruningSettings


def distinct_init(model: nn.Module, seed: int) -> nn.Module:
    """Glorot-scaled weights whose magnitudes are a random permutation of distinct values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, w in prunable_weights(model):
            n = w.numel()
            bound = (6 / sum(w.shape[:2])) ** 0.5
            mags = (torch.randperm(n, generator=gen) + 1).double() / n * bound
            signs = torch.randint(0, 2, (n,), generator=gen).double() * 2 - 1
            w.copy_((mags * signs).float().view_as(w))
            assert torch.unique(w.abs()).numel() == n, "magnitudes must be distinct"
    return model


def naive(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> list[float]:
    """The obvious loop: copy, prune with torch's utility, evaluate through a DataLoader."""
    loader = None
    accs = []
    for level in range(last_level() + 1):
        pruned = copy.deepcopy(model).eval()
        for module in (m for m in pruned.modules() if isinstance(m, nn.Linear)):
            n = module.weight.numel()
            prune.l1_unstructured(module, "weight", amount=n - kept_count(n, level))
        loader = DataLoader(TensorDataset(x, y), batch_size=batch_size)
        correct = 0
        with torch.no_grad():
            for xb, yb in loader:
                correct += int((pruned(xb).argmax(1) == yb).sum())
        accs.append(correct / len(x))
    return accs


def mm_seconds(model: nn.Module, n: int) -> tuple[float, int]:
    """Time and FLOPs of one ``torch.mm`` per layer shape with `n` rows (a dense forward)."""
    device = next(model.parameters()).device
    shapes = [(w.shape[1], w.shape[0]) for _, w in prunable_weights(model)]
    mats = [(torch.randn(n, i, device=device), torch.randn(i, o, device=device)) for i, o in shapes]
    sync(device)
    t = time.perf_counter()
    for a, b in mats:
        torch.mm(a, b)
    sync(device)
    return time.perf_counter() - t, sum(2 * n * i * o for i, o in shapes)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def levels_at_once(k: int, model: nn.Module, n: int) -> int:
    """K itself, or for 0 the most levels one forward of `n` samples holds in 1 GiB (the
    recipe's estimate for ``pruning.levels_at_once=0``; `model` on the CPU)."""
    if k > 0:
        return k
    estimate = member_bytes(model, (784,), "sgd", 64, n, n, (0, n, 0))
    return estimate.levels_at_once(1, 1, GIB, n, last_level() + 1)


def bench(
    width: float, n: int, repeats: int, naive_batch: int, at_once: list[int], device: str
) -> dict[str, float]:
    model = distinct_init(MLP(width), seed=0).eval()
    at_once_of = {k: levels_at_once(k, model, n) for k in at_once}
    model = model.to(device)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, 784, generator=gen).to(device)
    y = torch.randint(0, 10, (n,), generator=gen).to(device)
    t_naive, t_mm = [], []
    t_sweep: dict[int, list[float]] = {k: [] for k in at_once}
    for _ in range(repeats):  # interleaved: load from other processes hits all alike
        t = time.perf_counter()
        ref = naive(model, x, y, naive_batch)
        t_naive.append(time.perf_counter() - t)
        for k in at_once:
            t = time.perf_counter()
            traj = measure_pruning([model], [MemberSplits(val=(x, y))], PruningSettings(), n,
                                   at_once_of[k])[0].trajectories[0]
            t_sweep[k].append(time.perf_counter() - t)  # reading the totals synchronises
            assert ref == traj.val_acc, f"accuracies differ at width {width}, K={k}"
        t_mm.extend(mm_seconds(model, n)[0] for _ in range(5))
    flops = 2 * n * sum(w.numel() for _, w in prunable_weights(model)) * len(traj)
    res = {
        "naive_s": statistics.median(t_naive),
        "mm_gflops": mm_seconds(model, n)[1] / statistics.median(t_mm) / 1e9,
    }
    for k, times in t_sweep.items():
        res[f"sweep_s_{k}"] = statistics.median(times)
        res[f"sweep_gflops_{k}"] = flops / res[f"sweep_s_{k}"] / 1e9
        res[f"speedup_{k}"] = res["naive_s"] / res[f"sweep_s_{k}"]
        res[f"levels_{k}"] = at_once_of[k]
    return res


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, 1,000 samples")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--naive-batch-size", type=int, default=256)
    parser.add_argument("--widths", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument(
        "--levels-at-once", type=int, nargs="+", default=[1], metavar="K",
        help="measure_pruning(levels_at_once=K) for each K given (0 = auto, 1 GiB budget)",
    )
    parser.add_argument("--device", default="cpu", help="e.g. cuda")
    args = parser.parse_args(argv)
    repeats, samples = (1, 1000) if args.quick else (args.repeats, args.samples)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {samples} samples, "
        f"{last_level() + 1} levels, median of {repeats}; naive DataLoader batch "
        f"{args.naive_batch_size}; random-init weights; device {args.device}"
    )
    for width in args.widths:
        r = bench(width, samples, repeats, args.naive_batch_size, args.levels_at_once, args.device)
        print(f"width {width:g}: naive {r['naive_s']:.2f} s", flush=True)
        for k in args.levels_at_once:
            gflops = r[f"sweep_gflops_{k}"]
            auto = f" ({r[f'levels_{k}']} levels)" if k == 0 else ""
            print(
                f"  sweep K={k}{auto}: {r[f'sweep_s_{k}']:.2f} s, speedup {r[f'speedup_{k}']:.2f}x; "
                f"{gflops:.1f} GFLOP/s vs torch.mm {r['mm_gflops']:.1f} GFLOP/s "
                f"({gflops / r['mm_gflops']:.0%}); accuracies identical at every level",
                flush=True,
            )


if __name__ == "__main__":
    main()
