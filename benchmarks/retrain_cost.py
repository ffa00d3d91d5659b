"""Benchmark: what a retraining branch costs, and what a cohort saves on it.

    python benchmarks/retrain_cost.py [--widths 0.1 1] [--members 3] [--quick]

Through the recipe itself (`propensity.run.recipe`), on the embedded digits with the MLP and
the quickstart's recipe (SGD, lr 0.05, to mean train loss 0.2), in one process:

1. **Cost of each regime** as a multiple of the dense run it branches from: the time of
   ``train`` for the trained run (data, training and its one-shot trajectory) against the
   time of the same call again with ``retrain=...``, which skips the finished run and
   trains only the branch: ``finetune`` (bisection, at most 10 epochs a level), ``imp``
   without controls and ``imp`` with both controls.
2. **A cohort's IMP against its members' single IMPs**: K seeds trained as K single runs and
   as one cohort (``cohort=K``), then their IMP branches (no controls) as K single branches
   and as one lockstep branch of the cohort. Printed: the cohort's plain-training speed-up,
   its IMP speed-up, and their ratio (the branch should keep at least 90% of the training's).

Every IMP here stops at ``retrain.min_density`` (0.3: 6 levels; ``--quick``: 0.7, 2 levels)
and bounds each level at ``retrain.max_epochs`` (20; ``--quick``: 2), so the figures measure
the machinery at a fixed amount of work, not the 21 levels of a full IMP. Runs use one
intra-op thread (the recipe's choice for models this small on a CPU).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "propensity" / "conf"


def _cfg(results: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[f"results_dir={results}", "data=digits", "logger=none",
                                           "progress=false", *overrides])


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def regime_costs(results: Path, base: Sequence[str], imp: Sequence[str], finetune: Sequence[str]) -> None:
    from propensity.run.recipe import train

    width = float(base[0].split("=")[1])
    dense = _timed(lambda: train(_cfg(results, *base)))
    print(f"MLP {width:g}x: dense run {dense:6.2f} s (training and one-shot trajectory)  1.00x")
    for name, extra in (("finetune", ["retrain=finetune", *finetune]),
                        ("imp, no controls", ["retrain=imp", "retrain.controls=[]", *imp]),
                        ("imp with reinit and random", ["retrain=imp", *imp])):
        seconds = _timed(lambda extra=extra: train(_cfg(results, *base, *extra)))
        print(f"MLP {width:g}x: {name:<28} {seconds:6.2f} s  {seconds / dense:6.2f}x")


def cohort_speedups(results: Path, base: Sequence[str], members: int, imp: Sequence[str]) -> None:
    from propensity.run.recipe import train, train_cohort

    seeds = range(members)
    width = float(base[0].split("=")[1])
    branch = ["retrain=imp", "retrain.controls=[]", *imp]
    single_dense = sum(_timed(lambda i=i: train(_cfg(results / "single", *base, f"init_seed={i}")))
                       for i in seeds)
    cohort_dense = _timed(lambda: train_cohort(
        [_cfg(results / "cohort", *base, f"init_seed={i}", f"cohort={members}") for i in seeds]))
    single_imp = sum(_timed(lambda i=i: train(_cfg(results / "single", *base, f"init_seed={i}", *branch)))
                     for i in seeds)
    cohort_imp = _timed(lambda: train_cohort(
        [_cfg(results / "cohort", *base, f"init_seed={i}", f"cohort={members}", *branch) for i in seeds]))
    training, branching = single_dense / cohort_dense, single_imp / cohort_imp
    print(f"MLP {width:g}x, K={members}: training {single_dense:6.2f} s singles, {cohort_dense:6.2f} s "
          f"cohort  {training:.2f}x")
    print(f"MLP {width:g}x, K={members}: IMP      {single_imp:6.2f} s singles, {cohort_imp:6.2f} s "
          f"cohort  {branching:.2f}x")
    print(f"MLP {width:g}x, K={members}: the IMP speed-up is {branching / training:.2f}x the training "
          "speed-up")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=float, nargs="+", default=[0.1, 1.0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="check that it runs: 2 levels, 2 epochs")
    args = parser.parse_args(argv)
    os.environ.setdefault("WANDB_MODE", "disabled")
    import torch

    torch.set_num_threads(1)
    imp = ["retrain.min_density=0.7", "retrain.max_epochs=2"] if args.quick else \
        ["retrain.min_density=0.3", "retrain.max_epochs=20"]
    finetune = ["retrain.max_epochs=2"] if args.quick else []
    quick = ["stop=epochs", "stop.max_epochs=2"] if args.quick else []
    with tempfile.TemporaryDirectory() as scratch:
        from propensity.run.recipe import train

        train(_cfg(Path(scratch) / "warm-up", "width=0.1", "stop=epochs", "stop.max_epochs=1",
                   "retrain=imp", "retrain.min_density=0.7", "retrain.max_epochs=1"))  # imports, first fits
        for width in args.widths:
            results = Path(scratch) / f"w{width}"
            base = [f"width={width}", *quick]
            regime_costs(results / "costs", base, imp, finetune)
            cohort_speedups(results / "cohorts", base, args.members, imp)


if __name__ == "__main__":
    main()
