"""One training epoch of MLP 1x on 55,000 MNIST-shaped samples, batch 64, three ways.

    python benchmarks/train_epoch.py [--repeats 3] [--samples 55000]

(a) a plain PyTorch loop over in-memory tensors (the floor), (b) a plain loop over a
``DataLoader(TensorDataset)``, (c) this project's Lightning path (`Classifier` on a
`TensorDataModule`, Trainer settings of ``propensity/conf/train.yaml``). Prints medians and ratios
against (a), all measured in this run on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import lightning as L
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from propensity.data import SyntheticDataModule
from propensity.models import MLP, initialize
from propensity.module import Classifier


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


def project_path(dm: SyntheticDataModule, batch: int, width: float = 1.0) -> None:
    model = initialize(MLP(width, dm.input_shape, dm.num_classes), "glorot", 0)
    module = Classifier(model, lambda p: torch.optim.SGD(p, lr=1e-3), dm.num_classes)
    trainer = L.Trainer(
        max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=0, log_every_n_steps=1_000_000,
    )
    trainer.fit(module, datamodule=dm)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=55_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    dm = SyntheticDataModule(input_shape=(1, 28, 28), train_size=args.samples, val_size=64, whole_epoch=True,
                             test_size=64, batch_size=args.batch)
    dm.prepare_data()
    dm.setup("fit")
    x, y = dm.x_train, dm.y_train
    ways = {
        "plain loop, in-memory tensors": lambda: plain_tensors(x, y, args.batch),
        "plain loop, DataLoader(TensorDataset)": lambda: plain_dataloader(x, y, args.batch),
        "propensity (Lightning, tensor batches)": lambda: project_path(dm, args.batch),
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
