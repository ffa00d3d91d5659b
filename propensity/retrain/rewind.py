"""Rewinding a subnetwork to the dense run's weights at training iteration k.

Iteration k is the state after k optimiser steps of the dense run: k = 0 is its
initialisation (Frankle and Carbin 2019), k > 0 "late rewinding" (Frankle et al. 2020, "Linear
mode connectivity and the lottery ticket hypothesis"), which makes tickets of larger networks
stable. The state must be the dense run's own, bit for bit: an engine passes a `CaptureAt` to
its training loop and saves the copy beside its checkpoint, or, for k = 0, `initial_state`
replays the initialisation from the run's seed. An engine that trains a dense run with a
rewind iteration writes the state once, to `rewind_state_path`, where `load_rewind_state`
finds it for the run's branches.

As in open_lth, the whole state is rewound (weights, biases, normalisation buffers), then the
removed weights are set to exactly zero; the retraining then starts a fresh optimiser.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from propensity.models.init import Scheme, initialize
from propensity.pruning.masked_training import zero_pruned
from propensity.storage.atomic import write_atomic

State = dict[str, torch.Tensor]


def copy_state(source: nn.Module | Mapping[str, torch.Tensor]) -> State:
    """A detached CPU copy of a model's ``state_dict`` (or of a state), bit for bit."""
    state = source.state_dict() if isinstance(source, nn.Module) else source
    return {name: tensor.detach().to("cpu", copy=True) for name, tensor in state.items()}


@dataclass
class CaptureAt:
    """Keeps a copy of the model's state when training reaches `iteration`.

    An engine calls it with the number of optimiser steps taken so far: once with 0 before
    the first step, then after every step. The copy lives on the CPU, in `state`.
    """

    iteration: int
    state: State | None = None

    def __post_init__(self) -> None:
        if isinstance(self.iteration, bool) or not isinstance(self.iteration, int) or self.iteration < 0:
            raise ValueError(f"retrain.rewind_iteration={self.iteration!r}: must be an integer >= 0; "
                             "0 rewinds to the initial weights")

    def __call__(self, iteration: int, model: nn.Module | Mapping[str, torch.Tensor]) -> None:
        if iteration == self.iteration:
            self.state = copy_state(model)

    @property
    def captured(self) -> bool:
        return self.state is not None


def rewind_state_path(run_dir: str | Path, iteration: int) -> Path:
    """Where a run keeps its state at training iteration `iteration`: ``rewind/iteration_<k>.pt``."""
    return Path(run_dir) / "rewind" / f"iteration_{iteration}.pt"


def save_rewind_state(
    run_dir: str | Path, iteration: int, source: nn.Module | Mapping[str, torch.Tensor]
) -> bool:
    """Write `source`'s state (a CPU copy, bit for bit) as the run's state at `iteration`,
    atomically; False, writing nothing, when the file is there already.

    Written once: a resumed run that passes `iteration` again computes the same bits (same
    thread count), and the first copy stays the one its branches rewound to.
    """
    path = rewind_state_path(run_dir, iteration)
    if path.exists():
        return False
    state = copy_state(source)
    write_atomic(path, lambda tmp: torch.save(state, tmp))
    return True


def load_rewind_state(run_dir: str | Path, iteration: int) -> State | None:
    """The state `save_rewind_state` wrote for `iteration`, on the CPU; None when the run has
    none (it trained without this rewind iteration, or has not reached it yet)."""
    path = rewind_state_path(run_dir, iteration)
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def initial_state(model: nn.Module, scheme: Scheme, init_seed: int) -> State:
    """The weights at iteration 0, replayed: `model`'s state after ``initialize(scheme,
    init_seed)`` (section 4.4), computed on a copy so `model` is left as it is.

    Exact for the models whose every other parameter and buffer the constructor sets
    deterministically (all of `propensity.models`); a model that draws any from the global
    generator must be captured with `CaptureAt(0)` instead.
    """
    return copy_state(initialize(copy.deepcopy(model), scheme, init_seed))


@torch.no_grad()
def rewind(
    model: nn.Module, state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]
) -> nn.Module:
    """Load `state` into `model` bit for bit, then set the weights `masks` remove to exactly
    zero (True = kept; keyed by ``model.named_parameters()`` names). In place; returns `model`.
    """
    parameters = dict(model.named_parameters())
    _check_masks(masks, parameters, "is not a parameter of the model")
    model.load_state_dict(dict(state), strict=True)
    zero_pruned([(parameters[name], mask) for name, mask in masks.items()])
    return model


def masked_state(state: Mapping[str, torch.Tensor], masks: Mapping[str, torch.Tensor]) -> State:
    """A CPU copy of `state` whose weights `masks` remove are exactly ``+0.0``: the state
    `rewind` loads, for an engine that starts its members from states rather than models."""
    out = copy_state(state)
    _check_masks(masks, out, "the state does not hold")
    zero_pruned([(out[name], mask) for name, mask in masks.items()])
    return out


def _check_masks(masks: Mapping[str, torch.Tensor], weights: Mapping[str, torch.Tensor], absent: str) -> None:
    """Every mask names one of `weights` and is boolean, shaped like it (one line otherwise)."""
    unknown = sorted(set(masks) - set(weights))
    if unknown:
        raise ValueError(f"a mask for {unknown[0]}, which {absent}; key masks by "
                         "model.named_parameters() names")
    for name, mask in masks.items():
        if mask.dtype != torch.bool or mask.shape != weights[name].shape:
            raise ValueError(f"the mask of {name} is {mask.dtype} {tuple(mask.shape)}, the weight "
                             f"{tuple(weights[name].shape)}: masks are boolean, shaped like their weights")
