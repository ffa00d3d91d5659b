"""Training steps on one thread against all of torch's threads, per model, quiet and loaded.

    python benchmarks/threads.py [--repeats 3] [--busy 1] [--quick]

For each of the paper's models at a few widths, times `--steps` training steps (batch 64,
SGD, in-memory tensors: the stacked engine's and `data.whole_epoch`'s hot path) on one thread
and on torch's default count, interleaved, median of `--repeats`; then again while `--busy`
processes spin on the CPU, as other work on a shared machine does. Prints each model's
multiply-accumulates per step (`propensity.launch.threads.macs_per_sample` x batch), the
seconds per step, the ratio of all threads to one (below 1.00x: more threads are faster),
and the count `propensity.launch.threads` gives a single run of that model here. ``--quick``
only checks that everything runs (two small models, a few steps, one repeat).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from propensity.launch.threads import MACS_PER_THREAD, macs_per_sample, threads_for_step
from propensity.models import MLP, Conv2, ResNet, initialize


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    steps: int


DIGITS, MNIST, CIFAR = (1, 8, 8), (1, 28, 28), (3, 32, 32)
CASES = [
    Case("MLP 1x, digits (the default run)", lambda: MLP(1.0, DIGITS), DIGITS, 400),
    Case("MLP 0.1x, MNIST", lambda: MLP(0.1, MNIST), MNIST, 400),
    Case("MLP 1x, MNIST", lambda: MLP(1.0, MNIST), MNIST, 200),
    Case("MLP 5x, MNIST", lambda: MLP(5.0, MNIST), MNIST, 40),
    Case("Conv-2 0.1x, CIFAR-10", lambda: Conv2(0.1, CIFAR), CIFAR, 60),
    Case("Conv-2 0.5x, CIFAR-10", lambda: Conv2(0.5, CIFAR), CIFAR, 8),
    Case("ResNet 1x, CIFAR-10", lambda: ResNet(1.0, CIFAR), CIFAR, 20),
]


def seconds_per_step(case: Case, batch: int, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    model = initialize(case.build(), "glorot", 0)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    x = torch.randn(batch * 4, *case.input_shape, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 10, (batch * 4,), generator=torch.Generator().manual_seed(1))
    start = time.perf_counter()
    for step in range(steps):
        idx = slice((step % 4) * batch, (step % 4 + 1) * batch)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - start) / steps


def spin() -> None:
    while True:
        pass


def measure(cases: Sequence[Case], batch: int, repeats: int, steps_scale: float,
            available: int) -> dict[str, tuple[float, float]]:
    """Median seconds per step of each case, (one thread, `available` threads), interleaved."""
    times: dict[str, tuple[list[float], list[float]]] = {c.name: ([], []) for c in cases}
    for _ in range(repeats):
        for case in cases:
            steps = max(2, int(case.steps * steps_scale))
            for i, threads in enumerate((1, available)):
                times[case.name][i].append(seconds_per_step(case, batch, steps, threads))
    return {name: (statistics.median(one), statistics.median(many)) for name, (one, many) in times.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=1,
                        help="spinning processes for the loaded pass (0: none)")
    parser.add_argument("--quick", action="store_true", help="two small models, few steps: a smoke run")
    args = parser.parse_args(argv)
    cases, scale = (CASES[:2], 0.02) if args.quick else (CASES, 1.0)
    if args.quick:
        args.repeats = 1
    available = torch.get_num_threads()
    macs = {c.name: macs_per_sample(c.build(), c.input_shape) * args.batch for c in cases}
    passes = {"quiet": measure(cases, args.batch, args.repeats, scale, available)}
    if args.busy:
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
        for process in spinners:
            process.start()
        try:
            passes[f"{args.busy} busy"] = measure(cases, args.batch, args.repeats, scale, available)
        finally:
            for process in spinners:
                process.terminate()
                process.join()
    torch.set_num_threads(available)
    print(f"batch {args.batch}, 1 thread vs {available} (torch's default here), median of {args.repeats};"
          f" MACS_PER_THREAD = {MACS_PER_THREAD:,}")
    for label, result in passes.items():
        print(f"{label}:")
        for case in cases:
            one, many = result[case.name]
            chosen = threads_for_step(macs[case.name], available)
            print(f"  {case.name:34s} {macs[case.name] / 1e6:9.1f} M MACs/step | 1 thread {one * 1e3:8.2f} ms"
                  f" | {available} threads {many * 1e3:8.2f} ms | {many / one:5.2f}x | single run: {chosen}")


if __name__ == "__main__":
    main()
