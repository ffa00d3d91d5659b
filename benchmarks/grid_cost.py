"""What one run of the paper's MLP grid costs on this machine, per width.

    python benchmarks/grid_cost.py [--repeats 3]

Times, on MNIST-shaped data (55,000 training and 5,000 validation samples of 1x28x28; the
values are random, only the shapes matter for speed), one training epoch through this
project's path and one full pruning trajectory (51 levels), for each width of ``mlp_sgd``.
A run costs ``epochs x epoch + sweep``; the number of epochs SGD needs to reach a training
loss of 0.2 depends on the real data, so the grid's total is printed per epoch count.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from train_epoch import project_path

from propensity.data import SyntheticDataModule
from propensity.models import MLP, initialize
from propensity.pruning.measure import measure_trajectory

WIDTHS = (0.1, 0.5, 1.0, 2.0, 5.0)
RUNS_PER_WIDTH = 10 * 5 * 2  # init seeds x data seeds x inits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    dm = SyntheticDataModule(input_shape=(1, 28, 28), train_size=60_000, val_size=5_000,
                             test_size=64, batch_size=64, whole_epoch=True)
    dm.prepare_data()
    dm.setup("fit")
    print(f"MLP on MNIST-shaped data, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"  {'width':>5}  {'epoch (s)':>9}  {'sweep (s)':>9}")
    epoch_total = sweep_total = 0.0
    for width in WIDTHS:
        epochs, sweeps = [], []
        model = initialize(MLP(width, dm.input_shape, dm.num_classes), "glorot", 0)
        for _ in range(args.repeats):
            start = time.perf_counter()
            project_path(dm, 64, width)
            epochs.append(time.perf_counter() - start)
            start = time.perf_counter()
            measure_trajectory(model, dm.x_val, dm.y_val)
            sweeps.append(time.perf_counter() - start)
        epoch, pruning = statistics.median(epochs), statistics.median(sweeps)
        epoch_total += RUNS_PER_WIDTH * epoch
        sweep_total += RUNS_PER_WIDTH * pruning
        print(f"  {width:>5g}  {epoch:9.2f}  {pruning:9.2f}")
    for n_epochs in (5, 10, 20):
        hours = (n_epochs * epoch_total + sweep_total) / 3600
        print(f"500-run grid at {n_epochs:>2} epochs per run: {hours:6.1f} h on this machine")


if __name__ == "__main__":
    main()
