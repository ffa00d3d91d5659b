"""How many CPU threads a job trains with: as its launcher says, else by the work of one step.

A sweep's joblib workers (``launcher=gpus`` without GPUs) are started with ``OMP_NUM_THREADS``
set to the cores per worker, and a user may set it too: that count is kept. Otherwise (a single
run, the ``basic`` launcher's jobs, a SLURM task) the count follows the work of one training
step, the multiply-accumulates of a forward of one sample through every Linear and Conv layer
times the samples a step holds (the batch, times the members of a cohort). torch's intra-op
threads split each operation; on a small model each split is a few microseconds of work, and
the threads' start-up, synchronisation and, on a shared machine, waiting for a busy core cost
more than the split saves. ``benchmarks/threads.py`` measures both counts on the paper's models
and prints the work per step of each, from which `MACS_PER_THREAD` is read (the reasons and
the figures: docs/performance.md).

The count is recorded (``record.cpu_threads``), and a resumed run uses the count it started
with: the last bits of a float sum depend on how many threads split it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import torch
from torch import nn

from propensity.pruning import prunable_weights

# Multiply-accumulates of one training step's forward that each thread is given. On a 2-core
# machine shared with other work, two threads were slower than one for every model measured,
# up to 0.93 G a step (ResNet 1x on CIFAR-10 at batch 64): benchmarks/threads.py,
# docs/performance.md. Larger steps are split, a thread per G.
MACS_PER_THREAD = 1_000_000_000


@functools.cache
def available_threads() -> int:
    """torch's thread count when this module was first asked (its default, one per physical
    core, or ``OMP_NUM_THREADS``): the most a job is given, whatever an earlier job set."""
    return torch.get_num_threads()


def threads_for_step(macs_per_step: int, available: int) -> int:
    """One thread per `MACS_PER_THREAD` multiply-accumulates of a step, from 1 to `available`."""
    return max(1, min(available, macs_per_step // MACS_PER_THREAD))


def macs_per_sample(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one sample's forward through `model`'s weights in the paper's
    sense (`prunable_weights`: Linear and Conv), each weight once per output position (a
    convolution's pixels, a transformer's tokens); counted with forward hooks on one zero
    sample. Attention's own products, norms and activations are not counted."""
    total = 0

    def count(module: nn.Module, _: object, output: torch.Tensor) -> None:
        nonlocal total
        weight = module.weight
        total += weight.numel() * (output.numel() // weight.shape[0])

    weights = {id(weight) for _, weight in prunable_weights(model)}
    layers = [m for m in model.modules() if id(getattr(m, "weight", None)) in weights]
    hooks = [layer.register_forward_hook(count) for layer in layers]
    was_training = model.training
    try:
        model.eval()
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return total


def set_training_threads(model: nn.Module, input_shape: Sequence[int], samples_per_step: int) -> int:
    """Set and return the job's thread count: ``OMP_NUM_THREADS``'s when the launcher or the
    user set it, else `threads_for_step` of one step of `samples_per_step` samples."""
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return torch.get_num_threads()
    threads = threads_for_step(macs_per_sample(model, input_shape) * samples_per_step, available_threads())
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    return threads
