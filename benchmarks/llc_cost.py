"""What the learning-coefficient estimate (llc=sgld, its defaults) costs beside training.

    python benchmarks/llc_cost.py [--repeats 3] [--data digits MNIST-shaped] [--quick]

At width 1, on digits (1,197 training samples of 8x8) and on MNIST-shaped data (55,000
training samples of 1x28x28; random values, only the shapes matter for speed), times one
training epoch through this project's single-run path (`propensity.engines.lightning.fit_one`,
batch 64, as ``benchmarks/train_epoch.py`` times it: the epoch's validation pass, history and
checkpoint included) and one LLC estimate with the settings of ``propensity/conf/llc/sgld.yaml``.
A run costs ``epochs x epoch (+ pruning) + LLC``; the number of epochs depends on the stop
rule and the real data, so the LLC is also given in epochs. ``--quick`` only checks that
everything runs (digits, 1 repeat, one chain of 10 draws). Needs ``pip install propensity[llc]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from omegaconf import OmegaConf
from train_epoch import project_path, quiet_lightning

from propensity.data import DigitsDataModule, SyntheticDataModule, TensorDataModule
from propensity.llc import estimate_llc
from propensity.models import MLP, initialize

SGLD = Path(__file__).resolve().parents[1] / "propensity" / "conf" / "llc" / "sgld.yaml"


DATASETS: dict[str, Callable[[], TensorDataModule]] = {
    "digits": lambda: DigitsDataModule(batch_size=64, whole_epoch=True),
    "MNIST-shaped": lambda: SyntheticDataModule(input_shape=(1, 28, 28), train_size=60_000,
                                                val_size=5_000, test_size=64, batch_size=64,
                                                whole_epoch=True),
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--quick", action="store_true",
                        help="digits, 1 repeat, one chain of 10 draws: a smoke run")
    args = parser.parse_args(argv)
    quiet_lightning()
    settings = {k: v for k, v in OmegaConf.to_container(OmegaConf.load(SGLD)).items() if k != "name"}
    if args.quick:
        args.data, args.repeats = ["digits"], 1
        settings.update(num_chains=1, num_draws=10)
    print(f"MLP width 1, {torch.get_num_threads()} threads, median of {args.repeats}; LLC: {settings}")
    print(f"  {'data':>12}  {'samples':>7}  {'epoch (s)':>9}  {'LLC (s)':>8}  {'LLC in epochs':>13}")
    for name in args.data:
        dm = DATASETS[name]()
        dm.prepare_data()
        dm.setup("fit")
        model = initialize(MLP(1.0, dm.input_shape, dm.num_classes), "glorot", 0)
        epochs, llcs = [], []
        for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
            start = time.perf_counter()
            project_path(dm, 1.0)
            epochs.append(time.perf_counter() - start)
            start = time.perf_counter()
            estimate_llc(model, dm.x_train, dm.y_train, **settings)
            llcs.append(time.perf_counter() - start)
        epoch, llc = statistics.median(epochs), statistics.median(llcs)
        print(f"  {name:>12}  {len(dm.x_train):>7}  {epoch:>9.2f}  {llc:>8.2f}  {llc / epoch:>13.2f}")


if __name__ == "__main__":
    main()
