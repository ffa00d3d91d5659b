"""K models of one architecture stacked along a leading member dimension (section 3.1).

The runs of one grid cell differ only in their seeds, so their weights can live in one
tensor per layer (``K x out x in``) and train as one: dense layers are one
``torch.baddbmm`` over the members, convolutions one grouped convolution (``groups=K``
over the members' concatenated channels), BatchNorm one call whose channels are the
members' channels, so its statistics stay per member. Nothing mixes members, so member
k's outputs and gradients are those of its single model (up to the summation order of
the batched kernels).

`stack` builds the cohort from K initialised single models (each member's weights are
its model's, bitwise) and `unstack` writes member k back into a single model. The paper's
three classes have their forward written out here; any other model (a researcher's own, the
ViT) is stacked by `propensity.cohort.functional`, which keeps the same tensors and names
and runs the single model's own forward once per member under ``torch.func.vmap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from propensity.models import MLP, Conv2, ResNet
from propensity.models.resnet import ResidualBlock

HAND_WRITTEN: tuple[type, ...] = (MLP, Conv2, ResNet)

__all__ = ["StackedModel", "hand_written", "one_class", "unstack"]


def _stacked(tensors: Sequence[torch.Tensor]) -> nn.Parameter:
    return nn.Parameter(torch.stack([t.detach() for t in tensors]).contiguous())


class StackedModel(nn.Module):
    """A cohort of K single models of one class; ``forward`` maps ``K x B x ...`` to ``K x B x classes``.

    Parameters and buffers keep the single model's dotted names with a leading member
    dimension, so ``state_dict()[name][k]`` is member k's tensor and a single model's
    names (`propensity.pruning.prunable_weights`) index the stack directly.
    """

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__()
        self.kind = one_class(models)
        if type(self) is StackedModel and self.kind not in HAND_WRITTEN:
            raise ValueError(f"no hand-written stack of {self.kind.__name__}; use "
                             "propensity.cohort.stack, which stacks it generically")
        self.template: nn.Module
        self.members = len(models)
        self.names = [name for name, _ in models[0].named_parameters()]
        self.buffer_names = [name for name, _ in models[0].named_buffers()]
        self.params = nn.ParameterDict()
        for name in self.names:
            tensors = [dict(m.named_parameters())[name] for m in models]
            self.params[_key(name)] = _stacked(tensors)
        for name in self.buffer_names:
            tensors = [dict(m.named_buffers())[name].detach() for m in models]
            self.register_buffer(_key(name), torch.stack(tensors).clone())
        # Shapes and hyperparameters (padding, momentum) only; kept out of the module tree
        # so its parameters are not the cohort's.
        self.__dict__["template"] = models[0]

    def tensor(self, name: str) -> torch.Tensor:
        """The stacked tensor (parameter or buffer) of the single model's `name`."""
        key = _key(name)
        return self.params[key] if key in self.params else getattr(self, key)

    def prunable(self) -> list[tuple[str, torch.Tensor]]:
        """Stacked ``(name, K x ...)`` weights in the order of `prunable_weights`."""
        from propensity.pruning import prunable_weights

        return [(name, self.tensor(name)) for name, _ in prunable_weights(self.template)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind is MLP:
            h = x.flatten(2)
            h = _dense(self, "fc1", h).relu()
            h = _dense(self, "fc2", h).relu()
            return _dense(self, "proj", h)
        batch = x.shape[1]
        first = "conv1" if self.kind is Conv2 else "stem"
        if _shared(x, self.members):  # one input for all: the first layer is one plain conv
            h = _conv(self, first, x[0], shared=True)
        else:
            h = _conv(self, first, _channels_last(self, x.transpose(0, 1).reshape(batch, -1, *x.shape[3:])))
        h = _channels_last(self, h)
        if self.kind is Conv2:
            h = h.relu()
            h = _conv(self, "conv2", h).relu()
            h = F.max_pool2d(h, 2)
            h = h.contiguous().view(batch, self.members, -1).transpose(0, 1)
            h = _dense(self, "fc1", h).relu()
            h = _dense(self, "fc2", h).relu()
            return _dense(self, "proj", h)
        h = _bn(self, "bn", h).relu()
        for i, block in enumerate(self.template.blocks):
            assert isinstance(block, ResidualBlock)
            p = f"blocks.{i}."
            out = _bn(self, p + "bn1", _conv(self, p + "conv1", h)).relu()
            h = (_bn(self, p + "bn2", _conv(self, p + "conv2", out)) + h).relu()
        h = h.mean(dim=(2, 3)).view(batch, self.members, -1).transpose(0, 1)
        return _dense(self, "proj", h)


def one_class(models: Sequence[nn.Module]) -> type:
    """The one class of `models`, which all hold parameters and buffers of the same names and
    shapes; otherwise a one-line error naming the classes."""
    if not models:
        raise ValueError("a cohort needs at least one model")
    kind = type(models[0])
    if any(type(m) is not kind for m in models):
        raise ValueError(f"cannot stack {sorted({type(m).__name__ for m in models})}; a cohort "
                         "holds models of one class")
    shapes = _shapes(models[0])
    if any(_shapes(m) != shapes for m in models[1:]):
        raise ValueError(f"cannot stack these {kind.__name__} models: their parameters differ in "
                         "names or shapes (one grid cell's members are built alike)")
    return kind


def _shapes(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(n, tuple(t.shape)) for n, t in [*model.named_parameters(), *model.named_buffers()]]


def _key(name: str) -> str:
    return name.replace(".", "__")


def _channels_last(m: StackedModel, h: torch.Tensor) -> torch.Tensor:
    """Conv-2's grouped convolutions in channels-last layout.

    Measured on the 2-core CPU, K = 10, one training step against K single models: Conv-2
    0.1x 1.25x (default layout 0.85x), 0.5x 0.6-0.9x (0.5x). ResNet, whose BatchNorm is slower
    in this layout, keeps the default one (0.1x: 4.4x against 3.2x; 1x: 0.35x against 0.47x,
    wide grouped convolutions lose to single ones on a CPU either way). A cohort of one keeps
    the single model's layout.
    """
    if m.members > 1 and m.kind is Conv2:
        return h.contiguous(memory_format=torch.channels_last)
    return h


def _shared(x: torch.Tensor, members: int) -> bool:
    """True when every member reads the same input (a split expanded over K, as in
    evaluation on one data seed's split): the first layer then needs one product, not K."""
    return members > 1 and x.stride(0) == 0


def _dense(m: StackedModel, layer: str, h: torch.Tensor) -> torch.Tensor:
    weight, bias = m.tensor(f"{layer}.weight"), m.tensor(f"{layer}.bias")
    if m.members == 1:  # the single model's own kernel (forward and backward), bitwise
        return F.linear(h[0], weight[0], bias[0]).unsqueeze(0)
    if _shared(h, m.members):  # B x (K*out) from one matmul against all members' rows
        k, out = weight.shape[:2]
        shared = F.linear(h[0], weight.reshape(k * out, -1), bias.reshape(-1))
        return shared.view(-1, k, out).transpose(0, 1)
    return _BatchedLinear.apply(h, weight, bias)


class _BatchedLinear(torch.autograd.Function):
    """``h @ W^T + b`` per member, with the backward written out.

    Autograd's own backward of ``baddbmm`` on the transposed ``K x out x in`` weights
    returns the weight gradient transposed and copies it (and the weights) into place every
    step; here each gradient is one ``bmm`` in the layout it is stored in (measured on one
    CPU thread, MLP K = 10: a training step 10.7 ms against 14.5 ms at width 1).
    """

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(h, weight)
        return torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        h, weight = ctx.saved_tensors
        grad_h = torch.bmm(grad, weight) if ctx.needs_input_grad[0] else None
        grad_w = torch.bmm(grad.transpose(1, 2), h) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(1) if ctx.needs_input_grad[2] else None
        return grad_h, grad_w, grad_b


def _conv(m: StackedModel, layer: str, h: torch.Tensor, shared: bool = False) -> torch.Tensor:
    """Member k's channels of `h` through member k's filters (one grouped convolution);
    with `shared`, one input through all members' filters, as one plain convolution."""
    module = m.template.get_submodule(layer)
    weight = m.tensor(f"{layer}.weight")
    bias = m.tensor(f"{layer}.bias").reshape(-1) if module.bias is not None else None
    return F.conv2d(
        h, weight.reshape(-1, *weight.shape[2:]), bias, module.stride, module.padding,
        module.dilation, 1 if shared else m.members,
    )


def _bn(m: StackedModel, layer: str, h: torch.Tensor) -> torch.Tensor:
    """BatchNorm over the members' channels: statistics and running averages per member."""
    module = m.template.get_submodule(layer)
    mean, var = m.tensor(f"{layer}.running_mean"), m.tensor(f"{layer}.running_var")
    if m.training:
        m.tensor(f"{layer}.num_batches_tracked").add_(1)
    return F.batch_norm(
        h, mean.view(-1), var.view(-1), m.tensor(f"{layer}.weight").reshape(-1),
        m.tensor(f"{layer}.bias").reshape(-1), m.training, module.momentum, module.eps,
    )


def hand_written(model: nn.Module) -> bool:
    """True for the exact classes whose stacked forward is written out here (MLP, Conv2, ResNet)."""
    return type(model) in HAND_WRITTEN


@torch.no_grad()
def unstack(cohort: StackedModel, member: int, into: nn.Module) -> nn.Module:
    """Copy member `member`'s parameters and buffers into the single model `into`."""
    for name, param in into.named_parameters():
        param.copy_(cohort.tensor(name)[member])
    for name, buf in into.named_buffers():
        buf.copy_(cohort.tensor(name)[member])
    return into
