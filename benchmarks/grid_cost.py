"""What the paper's 500-run MLP grid costs on this machine, as single runs and as cohorts.

    python benchmarks/grid_cost.py [--repeats 3] [--members 10] [--widths 0.1 0.5 1 2 5] [--quick]

On MNIST-shaped data (55,000 training and 5,000 validation samples of 1x28x28; random
values, only the shapes matter for speed), for each width of ``mlp_sgd`` it times, in the
same process and interleaved so load from other processes hits both alike:

- single runs: one training epoch through this project's single-run path
  (`propensity.engines.lightning.fit_one`, as ``benchmarks/train_epoch.py`` times it) and one
  full pruning trajectory (`propensity.measurements.pruning.measure_pruning` of one model,
  51 levels);
- cohorts of K (``--members``, 10 as ``mlp_sgd`` sets ``cohort``): one epoch of
  `propensity.cohort.fit_stack` of K members (each its own batch order, one shared split, as the
  init seeds of one data seed) and one `measure_pruning` of the K models (the batched
  walk), divided by K per run.

Both epochs are a run's real epoch: each ends with a validation pass over the whole
validation split (and the single run's with its history and checkpoint written).

A run costs ``epochs x epoch + sweep``; the epochs SGD needs to reach a training loss of 0.2
depend on the real data, so the grid's total is printed per epoch count, beside its
arithmetic floor: the grid's FLOPs (training counted as 3 forward passes, the sweep as one
forward of the validation split per level) at ``torch.mm``'s rate (2048^3, measured in
this run). ``--quick`` checks that everything runs (a tenth of the samples, 1 repeat), and
``--widths`` times only some widths: then the figures are not the grid's, and say so.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterable, Sequence

import torch
from cohort import MAGNITUDE, forward_flops, mm_gflops
from train_epoch import project_path, quiet_lightning

from propensity.cohort import MemberData, fit_stack
from propensity.data import SyntheticDataModule
from propensity.engines.stopping import TrainForEpochs
from propensity.measurements.pruning import MemberSplits, measure_pruning
from propensity.models import MLP, initialize

WIDTHS = (0.1, 0.5, 1.0, 2.0, 5.0)
RUNS_PER_WIDTH = 10 * 5 * 2  # init seeds x data seeds x inits
EPOCH_COUNTS = (5, 10, 20)


def seconds(fn: Callable[..., object], *args: object, **kw: object) -> float:
    start = time.perf_counter()
    fn(*args, **kw)
    return time.perf_counter() - start


def models(width: float, dm: SyntheticDataModule, k: int) -> list[MLP]:
    return [initialize(MLP(width, dm.input_shape, dm.num_classes), "glorot", s) for s in range(k)]


def sgd(params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=1e-3)


def bench(width: float, dm: SyntheticDataModule, k: int, repeats: int) -> dict[str, float]:
    """Median seconds per run: single epoch and sweep, cohort epoch and sweep; and levels."""
    members = [MemberData(dm.x_train, dm.y_train, dm.x_val, dm.y_val, s) for s in range(k)]
    times: dict[str, list[float]] = {"single_epoch": [], "single_sweep": [], "cohort_epoch": [],
                                      "cohort_sweep": []}
    val = MemberSplits(val=(dm.x_val, dm.y_val))
    levels = 0
    for _ in range(repeats):
        times["single_epoch"].append(seconds(project_path, dm, width))
        rules = [TrainForEpochs() for _ in range(k)]
        times["cohort_epoch"].append(seconds(fit_stack, models(width, dm, k), members, sgd, rules, 1, 64) / k)
        model = models(width, dm, 1)[0]
        start = time.perf_counter()
        levels = len(measure_pruning([model], [val], MAGNITUDE)[0].trajectories[0])
        times["single_sweep"].append(time.perf_counter() - start)
        times["cohort_sweep"].append(seconds(measure_pruning, models(width, dm, k), [val] * k, MAGNITUDE) / k)
    return {**{name: statistics.median(v) for name, v in times.items()}, "levels": levels}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--members", type=int, default=10, help="K, seeds per cohort")
    parser.add_argument("--widths", type=float, nargs="+", default=list(WIDTHS),
                        help="MLP widths to time (the grid's totals need all of them)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the samples, 1 repeat")
    args = parser.parse_args(argv)
    quiet_lightning()
    partial = sorted(args.widths) != sorted(WIDTHS)
    n_train, n_val = (5_500, 500) if args.quick else (55_000, 5_000)
    repeats = 1 if args.quick else args.repeats
    dm = SyntheticDataModule(input_shape=(1, 28, 28), train_size=n_train + n_val, val_size=n_val,
                             test_size=64, batch_size=64, whole_epoch=True)
    dm.prepare_data()
    dm.setup("fit")
    cpu = torch.device("cpu")
    mm = mm_gflops(cpu)
    k = args.members
    print(f"MLP grid on MNIST-shaped data ({n_train} training, {n_val} validation samples"
          f"{', QUICK: not the grid' if args.quick else ''}), {torch.get_num_threads()} threads, "
          f"median of {repeats}, cohorts of {k}; torch.mm 2048^3: {mm:.0f} GFLOP/s")
    print(f"  {'width':>5} | {'epoch/run: single':>17} {'cohort':>7} {'ratio':>6} | "
          f"{'sweep/run: single':>17} {'cohort':>7} {'ratio':>6} | {'floor epoch':>11} {'sweep':>6}")
    totals = {"single_epoch": 0.0, "single_sweep": 0.0, "cohort_epoch": 0.0, "cohort_sweep": 0.0,
              "floor_epoch": 0.0, "floor_sweep": 0.0}
    for width in args.widths:
        r = bench(width, dm, k, repeats)
        per_sample = forward_flops(models(width, dm, 1)[0], dm.input_shape)
        r["floor_epoch"] = 3 * per_sample * n_train / (mm * 1e9)
        r["floor_sweep"] = per_sample * n_val * r["levels"] / (mm * 1e9)
        for key in totals:
            totals[key] += RUNS_PER_WIDTH * r[key]
        print(f"  {width:>5g} | {r['single_epoch']:15.2f} s {r['cohort_epoch']:5.2f} s "
              f"{r['single_epoch'] / r['cohort_epoch']:5.2f}x | {r['single_sweep']:15.2f} s "
              f"{r['cohort_sweep']:5.2f} s {r['single_sweep'] / r['cohort_sweep']:5.2f}x | "
              f"{r['floor_epoch']:9.3f} s {r['floor_sweep']:4.2f} s", flush=True)
    for epochs in EPOCH_COUNTS:
        single, cohort, floor = ((epochs * totals[f"{p}_epoch"] + totals[f"{p}_sweep"]) / 3600
                                 for p in ("single", "cohort", "floor"))
        quick = ("QUICK sizes, " if args.quick else "") + (
            f"widths {' '.join(f'{w:g}' for w in args.widths)} only, " if partial else "")
        runs = RUNS_PER_WIDTH * len(args.widths)
        print(f"{quick}{runs}-run grid at {epochs:>2} epochs per run: single runs {single:6.2f} h, "
              f"cohorts of {k} {cohort:6.2f} h ({single / cohort:4.2f}x faster), floor at mm's "
              f"rate {floor:6.2f} h (cohorts {cohort / floor:4.2f}x the floor)")


if __name__ == "__main__":
    main()
