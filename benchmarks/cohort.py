"""Benchmark: K seeds as one cohort against K single runs of the same work.

    python benchmarks/cohort.py [--members 10] [--repeats 3] [--device cuda] [--levels-at-once 4 17]
                                [--cases mlp:0.1 conv2:0.5] [--quick]

For MLP (widths 0.1, 1, 5; MNIST shapes 1x28x28, SGD) and Conv-2 (widths 0.1, 0.5; CIFAR-10
shapes 3x32x32, Adam), on random tensors (only the shapes matter for speed), it times in
the same process, interleaved so load from other processes hits both alike:

- one training epoch (batch 64): K single models, each a plain loop over its own batch
  order (the hot path of `propensity.engines.classifier.Classifier` without Lightning, i.e.
  the single runs' floor), against `propensity.cohort.fit_stack` of the K models for one epoch
  (stop rule `propensity.engines.stopping.TrainForEpochs`, validation on 64 samples);
- the pruning trajectory (51 levels): K calls of
  `propensity.measurements.pruning.measure_pruning` with one model each (the single run's
  level-by-level walk) against one call with the K models (the cohort's batched walk), as
  the recipe measures them, and with ``--levels-at-once L`` that cohort sweep evaluating L
  levels per forward.

Every member has its own batch order; all share one data split, as the init seeds of one
data seed do. Printed: median seconds, the cohort's speedup, and each side's GFLOP/s
(training counted as 3 forward passes) beside ``torch.mm``'s rate on a 2048^3 product on
the same device. ``--quick`` only checks that everything runs (small sizes, 1 repeat).

The figures below were measured before the one-recipe refactor, when the sweeps were
``measure_trajectory`` and ``cohort.trajectories``: the same plans and walks, without the
effective-density summary `measure_pruning` now adds per model (a few table reads).

Figures (2-core CPU, K=10, median of 3, full sizes; docs/performance.md has the
table): training epoch MLP 0.1x 3.03x, 1x 1.90x, 5x 1.34x, Conv-2 0.1x 1.22x; pruning
trajectory MLP 0.1x 1.49x, 1x 1.06x, 5x 1.02x, Conv-2 0.1x 1.23x. Conv-2 0.5x (one repeat at
the --quick sizes) 0.59x and 0.53x: wide stacked convolutions are memory-bound on a CPU.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from propensity.cohort import MemberData, fit_stack
from propensity.data.batches import epoch_permutation
from propensity.engines.stopping import TrainForEpochs
from propensity.measurements.pruning import MemberSplits, measure_pruning
from propensity.models import MLP, Conv2, initialize
from propensity.pruning.settings import PruningSettings

CASES = [("mlp", 0.1), ("mlp", 1.0), ("mlp", 5.0), ("conv2", 0.1), ("conv2", 0.5)]
SHAPES = {"mlp": (1, 28, 28), "conv2": (3, 32, 32)}
MAGNITUDE = PruningSettings()  # section 3.2's layer-wise magnitude pruning, 51 levels


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(on: torch.device, fn: Callable[..., object], *args: object, **kw: object) -> float:
    """Seconds `fn(*args, **kw)` takes, the device synchronised before and after."""
    sync(on)
    start = time.perf_counter()
    fn(*args, **kw)
    sync(on)
    return time.perf_counter() - start


def forward_flops(model: nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs of one sample's forward through the Linear and Conv layers (2 x MACs)."""
    macs = 0

    def hook(module: nn.Module, _: object, out: torch.Tensor) -> None:
        nonlocal macs
        macs += out.numel() * module.weight[0].numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        model(torch.zeros(1, *shape, device=next(model.parameters()).device))
    for h in handles:
        h.remove()
    return 2 * macs


def mm_gflops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    best = min(timed(device, torch.mm, a, b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def models_of(kind: str, width: float, members: int, device: torch.device) -> list[nn.Module]:
    cls = MLP if kind == "mlp" else Conv2
    return [initialize(cls(width, SHAPES[kind]), "glorot", seed).to(device)
            for seed in range(members)]


def optimizer_of(kind: str) -> Callable:
    if kind == "mlp":
        return lambda p: torch.optim.SGD(p, lr=1e-3)
    return lambda p: torch.optim.Adam(p, lr=2e-4)


def single_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
                 y: torch.Tensor, seed: int, batch: int) -> None:
    """One epoch of one single run: the module's training step over its own batch order."""
    order = epoch_permutation(len(x), seed, 0).to(x.device)
    for start in range(0, len(x), batch):
        idx = order[start : start + batch]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def single_epochs(models: list[nn.Module], kind: str, x: torch.Tensor, y: torch.Tensor,
                  batch: int) -> None:
    for seed, model in enumerate(models):
        single_epoch(model, optimizer_of(kind)(model.parameters()), x, y, seed, batch)


def single_sweeps(models: list[nn.Module], x: torch.Tensor, y: torch.Tensor) -> None:
    for model in models:
        measure_pruning([model], [MemberSplits(val=(x, y))], MAGNITUDE)


def cohort_sweep(models: list[nn.Module], x: torch.Tensor, y: torch.Tensor,
                 levels_at_once: int = 1) -> None:
    measure_pruning(models, [MemberSplits(val=(x, y))] * len(models), MAGNITUDE,
                    levels_at_once=levels_at_once)


def bench(kind: str, width: float, args: argparse.Namespace, device: torch.device) -> dict:
    k, shape = args.members, SHAPES[kind]
    n_train = args.mlp_samples if kind == "mlp" else args.conv_samples
    n_val = args.mlp_val if kind == "mlp" else args.conv_val
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n_train, *shape, generator=gen).to(device)
    y = torch.randint(0, 10, (n_train,), generator=gen).to(device)
    xv = torch.randn(n_val, *shape, generator=gen).to(device)
    yv = torch.randint(0, 10, (n_val,), generator=gen).to(device)
    members = [MemberData(x, y, xv[:64], yv[:64], seed) for seed in range(k)]
    times: dict[str, list[float]] = {"single_epoch": [], "cohort_epoch": [],
                                      "single_sweep": [], "cohort_sweep": []}
    times.update({f"levels_{n}": [] for n in args.levels_at_once})
    for _ in range(args.repeats):
        singles = models_of(kind, width, k, device)
        times["single_epoch"].append(timed(device, single_epochs, singles, kind, x, y, args.batch))
        cohort = models_of(kind, width, k, device)
        times["cohort_epoch"].append(
            timed(device, fit_stack, cohort, members, optimizer_of(kind),
                  [TrainForEpochs() for _ in range(k)], 1, args.batch, device=device))
        times["single_sweep"].append(timed(device, single_sweeps, singles, xv, yv))
        times["cohort_sweep"].append(timed(device, cohort_sweep, singles, xv, yv))
        for n in args.levels_at_once:
            times[f"levels_{n}"].append(timed(device, cohort_sweep, singles, xv, yv, n))
    med = {name: statistics.median(v) for name, v in times.items()}
    per_sample = forward_flops(singles[0], shape)
    flops = {"epoch": 3 * per_sample * n_train * k, "sweep": per_sample * n_val * 51 * k}
    return {"med": med, "flops": flops, "n_train": n_train, "n_val": n_val}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10, help="K, seeds per cohort")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--mlp-samples", type=int, default=55_000)
    parser.add_argument("--mlp-val", type=int, default=5_000)
    parser.add_argument("--conv-samples", type=int, default=5_000)
    parser.add_argument("--conv-val", type=int, default=1_000)
    parser.add_argument("--cases", nargs="+", default=[f"{m}:{w:g}" for m, w in CASES],
                        help="model:width pairs, e.g. mlp:0.1 conv2:0.5")
    parser.add_argument("--device", default="cpu", help="e.g. cuda")
    parser.add_argument("--levels-at-once", type=int, nargs="*", default=[], metavar="L",
                        help="also time the cohort sweep with L levels per forward, e.g. 4 17")
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 repeat: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.mlp_samples, args.mlp_val = 1, 2_000, 500
        args.conv_samples, args.conv_val = 500, 100
    device = torch.device(args.device)
    mm = mm_gflops(device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, "
          f"K={args.members}, batch {args.batch}, median of {args.repeats}; "
          f"torch.mm 2048^3: {mm:.0f} GFLOP/s")
    for case in args.cases:
        kind, width = case.split(":")
        r = bench(kind, float(width), args, device)
        med, flops = r["med"], r["flops"]
        for part, n in (("epoch", r["n_train"]), ("sweep", r["n_val"])):
            single, cohort = med[f"single_{part}"], med[f"cohort_{part}"]
            gs, gc = flops[part] / single / 1e9, flops[part] / cohort / 1e9
            print(f"{kind} {float(width):g}x {part:5s} ({n} samples): {args.members} singles "
                  f"{single:7.2f} s ({gs:6.1f} GFLOP/s, {gs / mm:4.0%} of mm) | cohort "
                  f"{cohort:7.2f} s ({gc:6.1f} GFLOP/s, {gc / mm:4.0%}) | {single / cohort:5.2f}x",
                  flush=True)
        for n in args.levels_at_once:
            t = med[f"levels_{n}"]
            print(f"{kind} {float(width):g}x sweep, {n} levels a forward: cohort {t:7.2f} s "
                  f"({flops['sweep'] / t / 1e9:6.1f} GFLOP/s) | {med['single_sweep'] / t:5.2f}x the "
                  f"singles, {med['cohort_sweep'] / t:5.2f}x one level a forward", flush=True)


if __name__ == "__main__":
    main()
