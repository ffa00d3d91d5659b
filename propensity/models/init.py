"""Glorot and He uniform initialisation (section 4.4), seeded by ``init_seed`` alone."""

from typing import Literal

import torch
from torch import nn

Scheme = Literal["glorot", "he"]


def initialize(model: nn.Module, scheme: Scheme, init_seed: int) -> nn.Module:
    """Draw every Linear/Conv weight uniformly in [-a, a] and zero its bias, in place.

    Glorot: a = sqrt(6 / (fan_in + fan_out)); He: a = sqrt(6 / fan_in), fans as torch counts
    them (a convolution's fans include its kernel area). A private generator seeded with
    `init_seed` draws the layers in module order, so the initial weights depend on nothing
    else (not the global RNG, not the data seed).
    """
    if scheme not in ("glorot", "he"):
        raise ValueError(f"init={scheme!r} is unknown; use init=glorot or init=he")
    generator = torch.Generator().manual_seed(int(init_seed))
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            weight = torch.empty_like(module.weight, device="cpu")
            if scheme == "glorot":
                nn.init.xavier_uniform_(weight, generator=generator)
            else:
                nn.init.kaiming_uniform_(weight, nonlinearity="relu", generator=generator)
            with torch.no_grad():
                module.weight.copy_(weight)
                if module.bias is not None:
                    module.bias.zero_()
    return model
