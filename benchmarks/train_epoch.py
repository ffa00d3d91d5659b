"""One training epoch of MLP 1x on 55,000 MNIST-shaped samples, batch 64, three ways.

    python benchmarks/train_epoch.py [--repeats 3] [--samples 55000] [--quick]

(a) a plain PyTorch loop over in-memory tensors (the floor), (b) a plain loop over a
``DataLoader(TensorDataset)``, (c) this project's single-run path: the Lightning engine's
`propensity.engines.lightning.fit_one` as the recipe calls it (`Classifier` on the data module
served as `TensorData`, the Trainer of ``propensity/conf/trainer/default.yaml`` on the CPU, stop
rule ``epochs``), which beside the epoch also validates once (64 samples), writes
``history.csv`` and saves its checkpoint, as every run's epoch does. Prints medians and ratios
against (a), all measured in this run on this machine. ``--quick`` only checks that everything
runs (2,000 samples, 1 repeat).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from propensity.data import SyntheticDataModule, TensorDataModule
from propensity.engines.epoch_report import EpochReport
from propensity.engines.lightning import fit_one
from propensity.engines.stopping import TrainForEpochs
from propensity.models import MLP, initialize
from propensity.storage.checkpoints import Checkpoint

TRAINER = Path(__file__).resolve().parents[1] / "propensity" / "conf" / "trainer" / "default.yaml"


def plain_tensors(x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    model = initialize(MLP(1.0), "glorot", 0)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    for start in range(0, len(x), batch):
        idx = perm[start : start + batch]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def plain_dataloader(x: torch.Tensor, y: torch.Tensor, batch: int) -> None:
    model = initialize(MLP(1.0), "glorot", 0)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    for xb, yb in loader:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def project_path(dm: TensorDataModule, width: float = 1.0) -> None:
    """One epoch of one run through the Lightning engine, as `propensity.run.recipe` fits it."""
    model = initialize(MLP(width, dm.input_shape, dm.num_classes), "glorot", 0)
    trainer = OmegaConf.merge(OmegaConf.load(TRAINER), {"max_epochs": 1, "accelerator": "cpu"})
    with tempfile.TemporaryDirectory() as run_dir:
        report = EpochReport([Path(run_dir)], [[]], 1, progress=False)
        result, _ = fit_one(model, dm, lambda p: torch.optim.SGD(p, lr=1e-3), TrainForEpochs(), max_epochs=1,
                            make_trainer=partial(instantiate, trainer), report=report, loggers=[],
                            checkpoint=Checkpoint.of_run(Path(run_dir), "benchmark"))
    assert result.epochs_trained == 1, result


def quiet_lightning() -> None:
    """One Trainer per timed epoch: keep Lightning's per-Trainer notices out of the output."""
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=55_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="2,000 samples, 1 repeat: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.samples, args.repeats = 2_000, 1
    quiet_lightning()
    dm = SyntheticDataModule(input_shape=(1, 28, 28), train_size=args.samples, val_size=64, whole_epoch=True,
                             test_size=64, batch_size=args.batch)
    dm.prepare_data()
    dm.setup("fit")
    x, y = dm.x_train, dm.y_train
    ways = {
        "plain loop, in-memory tensors": lambda: plain_tensors(x, y, args.batch),
        "plain loop, DataLoader(TensorDataset)": lambda: plain_dataloader(x, y, args.batch),
        "propensity (fit_one: Lightning engine)": lambda: project_path(dm),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits every way alike
        for name, run in ways.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    floor = statistics.median(times["plain loop, in-memory tensors"])
    print(f"MLP 1x, {args.samples} samples, batch {args.batch}, {torch.get_num_threads()} threads,"
          f" median of {args.repeats}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:42s} {median:7.3f} s   {median / floor:5.2f}x")


if __name__ == "__main__":
    main()
