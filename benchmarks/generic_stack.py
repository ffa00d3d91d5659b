"""Benchmark: the generic stack (torch.func.vmap) against K single models and the hand-written stack.

    python benchmarks/generic_stack.py [--members 10] [--steps 20] [--repeats 3] [--device cpu]
                                       [--quick]

A cohort of a model without a hand-written stacked version (a researcher's own, the ViT)
trains as `propensity.cohort.functional.FunctionalStack`. This times, in one process and
interleaved so load from other processes hits every side alike, `--steps` training steps
(batch 64, SGD, forward + backward + step) of:

- K single models, each stepping on its own batch (the single runs' floor, no Lightning);
- the K models as one generic stack;
- for the MLP, also the hand-written stack (`propensity.cohort.stacked.StackedModel`), the
  generic path's price where both exist.

Cases: MLP 0.1x and 1x, the small ViT 0.1x and 0.5x, on MNIST shapes (1 x 28 x 28), random
tensors (only shapes matter for speed). Printed: median seconds per step and the ratios
(single / generic: above 1 the cohort is faster; generic / hand: the generic path's price).
``--quick`` checks that everything runs.

Figures (shared 2-core CPU, one thread, K=10, 20 steps, median of 3): seconds a step, single /
generic, generic / hand-written: MLP 0.1x 0.0119 / 0.0065 s = 1.84x, generic 1.71x the
hand-written 0.0038 s; MLP 1x 0.77x (1.88x the hand-written); ViT 0.1x 0.93x, ViT 0.5x 0.97x.
On a CPU the generic stack pays off only for small dense models; a GPU, where K single models
leave the device idle between small kernels, is unmeasured here.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from propensity.cohort.functional import FunctionalStack
from propensity.cohort.stacked import StackedModel
from propensity.models import MLP, ViT, initialize
from propensity.pruning.evaluation import member_losses

SHAPE = (1, 28, 28)
CASES: list[tuple[str, Callable[[float], nn.Module], float]] = [
    ("mlp", lambda w: MLP(w, SHAPE), 0.1), ("mlp", lambda w: MLP(w, SHAPE), 1.0),
    ("vit", lambda w: ViT(w, SHAPE), 0.1), ("vit", lambda w: ViT(w, SHAPE), 0.5),
]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def singles_step(models: list[nn.Module], optimizers: list[torch.optim.Optimizer], x: torch.Tensor,
                 y: torch.Tensor) -> None:
    for k, (model, opt) in enumerate(zip(models, optimizers, strict=True)):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[k]), y[k]).backward()
        opt.step()


def stack_step(stack: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    member_losses(stack(x), y).sum().backward()
    opt.step()


def seconds_per_step(device: torch.device, steps: int, step: Callable[[], None]) -> float:
    step()  # warm-up
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return (time.perf_counter() - start) / steps


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="2 members, 2 steps, 1 repeat")
    args = parser.parse_args(argv)
    k, steps, repeats = (2, 2, 1) if args.quick else (args.members, args.steps, args.repeats)
    device = torch.device(args.device)
    print(f"K={k}, {steps} steps of batch 64, median of {repeats}, {device}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'case':<10} {'single s':>9} {'generic s':>10} {'single/generic':>15} {'hand s':>8} "
          f"{'generic/hand':>13}")
    for name, make, width in CASES:
        models = [initialize(make(width), "glorot", s).to(device) for s in range(k)]
        x = torch.randn(k, 64, *SHAPE, device=device)
        y = torch.randint(0, 10, (k, 64), device=device)
        sides: dict[str, Callable[[], None]] = {}
        opts = [torch.optim.SGD(m.parameters(), lr=1e-3) for m in models]
        sides["single"] = partial(singles_step, models, opts, x, y)
        generic = FunctionalStack(models).to(device)
        generic_opt = torch.optim.SGD(generic.parameters(), lr=1e-3)
        sides["generic"] = partial(stack_step, generic, generic_opt, x, y)
        if name == "mlp":
            hand = StackedModel(models).to(device)
            hand_opt = torch.optim.SGD(hand.parameters(), lr=1e-3)
            sides["hand"] = partial(stack_step, hand, hand_opt, x, y)
        times: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(repeats):
            for side, step in sides.items():
                times[side].append(seconds_per_step(device, steps, step))
        med = {side: statistics.median(t) for side, t in times.items()}
        hand_cols = (f"{med['hand']:>8.4f} {med['generic'] / med['hand']:>12.2f}x" if "hand" in med
                     else f"{'':>8} {'':>13}")
        print(f"{name} {width:<5g} {med['single']:>9.4f} {med['generic']:>10.4f} "
              f"{med['single'] / med['generic']:>14.2f}x {hand_cols}")


if __name__ == "__main__":
    main()
