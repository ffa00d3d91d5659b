"""Benchmark: what each score beyond magnitude costs beside the magnitude sweep (section 6).

Run ``.venv/bin/python benchmarks/pruning_scores.py`` (``--quick`` for a smoke run). For each
model it times, in one process and interleaved so that load from other processes hits all
alike (median of ``--repeats``):

- the baseline: the magnitude sweep of one model, 51 levels on ``--val`` validation samples
  (`propensity.pruning.measure.measure_trajectory`, the paper's measurement);
- each score of one model (`propensity.pruning.scores`): SNIP and OBD on ``--samples``
  training samples (``pruning.score_samples``), SynFlow data-free; and the rest of a
  criterion's plan (ranking and allocation: `allocation.allocate` with LAMP, the most work);
- SNIP of a cohort of ``--members`` models in one batched call against the same models scored
  one by one (OBD scores members one by one either way).

It prints seconds and each score's time as a ratio of the magnitude sweep measured in the
same run. The weights are an initialisation, not trained ones: the cost does not depend on
them. Inputs are random tensors of the data's shape (MNIST for the MLP, CIFAR-10 for Conv-2).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from propensity.models import MLP, Conv2, initialize
from propensity.pruning.allocation import allocate
from propensity.pruning.measure import measure_trajectory
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.scores import scores


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def data(shape: tuple[int, ...], n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, 10, (n,), generator=g)


def bench(name: str, make: Callable[[int], nn.Module], shape: tuple[int, ...],
          args: argparse.Namespace, val: int) -> None:
    models = [initialize(make(0), "glorot", seed).eval() for seed in range(args.members)]
    model = models[0]
    x_val, y_val = data(shape, val, 0)
    train = [data(shape, args.samples, 1 + k) for k in range(args.members)]
    names = [n for n, _ in prunable_weights(model)]
    snip_scores = scores("snip", [model], [train[0]])[0]
    cases: dict[str, Callable[[], object]] = {
        "magnitude sweep (baseline)": lambda: measure_trajectory(model, x_val, y_val),
        "snip": lambda: scores("snip", [model], [train[0]]),
        "obd": lambda: scores("obd", [model], [train[0]]),
        "synflow": lambda: scores("synflow", [model], [(x_val, y_val)]),
        "lamp allocation": lambda: allocate("lamp", names, snip_scores),
        f"snip, {args.members} members batched": lambda: scores("snip", models, train),
        f"snip, {args.members} members one by one": lambda: [scores("snip", [m], [t])
                                                           for m, t in zip(models, train, strict=True)],
    }
    times: dict[str, list[float]] = {case: [] for case in cases}
    for _ in range(args.repeats):
        for case, fn in cases.items():
            times[case].append(timed(fn))
    weights = sum(w.numel() for _, w in prunable_weights(model))
    print(f"\n{name}: {weights:,} weights, {val} validation samples, {args.samples} score samples, "
          f"{torch.get_num_threads()} threads, median of {args.repeats}")
    base = statistics.median(times["magnitude sweep (baseline)"])
    for case, values in times.items():
        t = statistics.median(values)
        print(f"  {case:32s} {t:8.3f} s   {t / base:6.2f}x the magnitude sweep")


def main() -> None:
    """Both models, the MLP at the paper's width 1 and Conv-2 at 0.1 (its sweep is slow on a CPU)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny models, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--val", type=int, default=5000, help="validation samples of the MLP sweep")
    parser.add_argument("--conv-val", type=int, default=1000, help="validation samples of the Conv-2 sweep")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--members", type=int, default=4)
    args = parser.parse_args()
    widths = {"mlp": 1.0, "conv2": 0.1}
    if args.quick:
        args.repeats, args.val, args.conv_val, args.samples, args.members = 1, 500, 200, 32, 2
        widths = {"mlp": 0.1, "conv2": 0.1}
    torch.manual_seed(0)
    bench(f"MLP width {widths['mlp']:g}", lambda _: MLP(widths["mlp"]), (1, 28, 28), args, args.val)
    bench(f"Conv-2 width {widths['conv2']:g}", lambda _: Conv2(widths["conv2"]), (3, 32, 32), args,
          args.conv_val)


if __name__ == "__main__":
    main()
