"""The controls that give a lottery-ticket claim its meaning (Frankle and Carbin 2019, section 2).

A ticket is its mask *and* its initial weights. Each control changes one of the two and is
retrained exactly as the IMP level it controls:

- ``reinit``: the IMP mask, weights from a fresh initialisation (the run's scheme, a seed
  derived from the run's and the control's seeds, never the run's own);
- ``random``: the IMP level's per-layer counts at random positions, rewound to the same
  iteration as IMP, so only the choice of weights differs.

If IMP beats neither, the retrained accuracy comes from the mask's size, not from which
weights it keeps or where they started.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import torch
from torch import nn

from propensity.models.init import Scheme
from propensity.retrain.rewind import State, initial_state


def derived_seed(control: str, init_seed: int, control_seed: int = 0) -> int:
    """The seed a control draws from (``reinit``: its initial weights; ``random``: its masks).

    Derived from the control's name, the run's `init_seed` and the branch's `control_seed`, so
    each run's control is drawn afresh and the two controls never share a stream; never
    `init_seed` itself, so ``reinit`` cannot redraw the run's own initialisation.
    """
    digest = hashlib.sha256(f"{control}/{int(init_seed)}/{int(control_seed)}".encode()).hexdigest()
    seed = int(digest[:8], 16)
    return seed if seed != init_seed else seed ^ 1


def reinitialized_state(model: nn.Module, scheme: Scheme, init_seed: int, control_seed: int = 0) -> State:
    """Fresh initial weights for the ``reinit`` control: the run's `scheme`, drawn from
    ``derived_seed("reinit", ...)`` (`propensity.models.init.initialize`). Rewind the model to
    it under the IMP mask (`propensity.retrain.rewind.rewind`)."""
    return initial_state(model, scheme, derived_seed("reinit", init_seed, control_seed))


def random_masks(masks: Mapping[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Masks keeping as many weights per layer as `masks`, at positions drawn at random.

    For the ``random`` control, `seed` is ``derived_seed("random", init_seed, control_seed)``.
    One generator seeded with `seed` draws a permutation per layer, in the order of `masks`;
    a layer keeps the first entries of its permutation. The same seed at a later level (fewer
    kept) keeps a subset, so the random control's masks are nested like IMP's.
    """
    generator = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, mask in masks.items():
        order = torch.randperm(mask.numel(), generator=generator)
        keep = torch.zeros(mask.numel(), dtype=torch.bool)
        keep[order[: int(mask.sum())]] = True
        out[name] = keep.view(mask.shape).to(mask.device)
    return out
