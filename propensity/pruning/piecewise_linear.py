"""Whether a network is piecewise linear in its weights: where OBD's Hessian diagonal is exact.

A logit z of a network built from affine maps (dense and convolutional layers, sums, pooling by
averages, eval-mode BatchNorm and dropout) and piecewise-linear ones (ReLU, max-pool, clamps,
absolute values) is piecewise linear along any direction inside one layer's weights, so its
second derivative there is zero almost everywhere and the Hessian of the cross-entropy equals
the Gauss-Newton matrix on each layer's diagonal block (`propensity.pruning.obd`). A curved
operation (Tanh, GELU, LayerNorm, softmax, ...) or a product of two activations breaks this.

`probe` runs one forward of a batch of two on the meta device (no memory, no arithmetic; on the
CPU with zero weights if the model's forward cannot run there) under a
``torch.overrides.TorchFunctionMode`` that sees every torch function the forward calls,
``torch.relu`` written in a ``forward`` included, and names the first operation that is not
piecewise linear in the weights and the module that called it. Only operations on tensors that
depend on the input or on a prunable weight are judged; an operation this module does not know
counts as curved, so the answer "piecewise linear" errs only towards refusing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from propensity.pruning.prunable import prunable_weights

# Affine in every argument that depends on the weights, the others fixed.
AFFINE = frozenset({
    "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "add", "add_", "__add__", "__radd__", "__iadd__", "sub", "sub_", "subtract", "__sub__", "__rsub__",
    "__isub__", "neg", "neg_", "negative", "__neg__", "positive", "__pos__",
    "cat", "concat", "concatenate", "stack", "hstack", "vstack", "flatten", "unflatten", "view",
    "view_as", "reshape", "reshape_as", "permute", "transpose", "transpose_", "t", "T", "mT",
    "swapaxes", "swapdims", "movedim", "contiguous", "clone", "__getitem__", "__setitem__", "copy_",
    "squeeze", "unsqueeze", "expand", "expand_as", "repeat", "tile", "chunk", "split", "tensor_split",
    "unbind", "narrow", "select", "index_select", "gather", "roll", "flip", "mean", "sum",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", "pad", "to", "float", "double", "type_as",
})
# Piecewise linear: linear between kinks where the active piece changes.
PIECEWISE = frozenset({
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "prelu",
    "threshold", "threshold_", "abs", "abs_", "absolute", "maximum", "minimum", "fmax", "fmin", "max",
    "min", "amax", "amin", "clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_max", "clamp_min_",
    "clamp_max_", "where", "masked_fill", "masked_fill_",
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "max_pool2d_with_indices",
    "max_pool3d_with_indices", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
})
# Linear when at most one operand depends on the weights (a scale, a fixed matrix).
PRODUCTS = frozenset({"mul", "mul_", "multiply", "__mul__", "__rmul__", "__imul__", "matmul",
                      "__matmul__", "__rmatmul__", "mm", "bmm", "mv"})
# Linear when the divisor does not depend on the weights.
QUOTIENTS = frozenset({"div", "div_", "divide", "true_divide", "__truediv__", "__itruediv__"})
# Affine when not training: the position and default of the ``training`` argument.
EVAL_ONLY: dict[str, tuple[int, bool]] = {
    "batch_norm": (5, False), "dropout": (2, True), "dropout1d": (2, True), "dropout2d": (2, True),
    "dropout3d": (2, True), "alpha_dropout": (2, False), "feature_alpha_dropout": (2, False),
}


@dataclass
class Probe:
    """What one forward of a model did: its modules' calls and its first curved operation."""

    curved: str | None = None  # "module '2' (Tanh) applies tanh", or None when piecewise linear
    calls: dict[str, int] = field(default_factory=dict)  # prunable layer name -> calls
    input_dims: dict[str, int] = field(default_factory=dict)  # prunable layer name -> input dims


def describe(model: nn.Module, name: str) -> str:
    """How a message names module `name` of `model`."""
    if not name:
        return f"the forward of {type(model).__name__}"
    return f"module {name!r} ({type(model.get_submodule(name)).__name__})"


def probe(model: nn.Module, input_shape: Sequence[int]) -> Probe:
    """One forward of `model` in eval mode on two inputs of `input_shape`, judged operation by
    operation; the model's weights, buffers and modes are left as they were."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        return _forward(model, tuple(input_shape), "meta")
    except Exception:  # a forward that reads values (.item(), data-dependent branches)
        return _forward(model, tuple(input_shape), "cpu")
    finally:
        for module, training in modes.items():
            module.training = training


def _forward(model: nn.Module, input_shape: tuple[int, ...], device: str) -> Probe:
    prunable = {name.removesuffix("weight").removesuffix("."): w for name, w in prunable_weights(model)}
    weights = {id(w) for w in prunable.values()}
    params = {n: torch.zeros_like(p, device=device).requires_grad_(id(p) in weights)
              for n, p in model.named_parameters(remove_duplicate=False)}
    buffers = {n: b.detach().to(device) if b.device.type != "meta" or device == "meta"
               else torch.zeros_like(b, device=device) for n, b in model.named_buffers()}
    dtype = next((p.dtype for p in params.values() if p.is_floating_point()), torch.get_default_dtype())
    x = torch.zeros((2, *input_shape), device=device, dtype=dtype, requires_grad=True)
    found = Probe(calls=dict.fromkeys(prunable, 0))
    stack: list[str] = []
    handles = []
    for name, module in model.named_modules():
        def enter(module: nn.Module, inputs: tuple[Any, ...], name: str = name) -> None:
            stack.append(name)
            if name in prunable:
                found.calls[name] += 1
                found.input_dims[name] = inputs[0].dim()

        def leave(module: nn.Module, inputs: Any, output: Any) -> None:
            stack.pop()

        handles += [module.register_forward_pre_hook(enter),
                    module.register_forward_hook(leave, always_call=True)]
    try:
        with torch.enable_grad(), _Judge(lambda op: found.curved or _set_curved(found, model, stack, op)):
            functional_call(model, (params, buffers), (x,))
    finally:
        for handle in handles:
            handle.remove()
    return found


def _set_curved(found: Probe, model: nn.Module, stack: list[str], op: str) -> str:
    found.curved = f"{describe(model, stack[-1] if stack else '')} applies {op}"
    return found.curved


class _Judge(TorchFunctionMode):
    """Reports (once per operation) every operation on weight-dependent tensors that is not
    piecewise linear in them."""

    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if any(isinstance(t, torch.Tensor) and t.requires_grad for t in tree_leaves(result)):
            problem = _problem(_name(func), args, kwargs)
            if problem is not None:
                self.report(problem)
        return result


def _name(func: Any) -> str:
    name = getattr(func, "__name__", repr(func))
    if name == "__get__":  # a property such as Tensor.T
        name = getattr(getattr(func, "__self__", None), "__name__", name)
    return name


def _depends(value: Any) -> bool:
    return any(isinstance(t, torch.Tensor) and t.requires_grad for t in tree_leaves(value))


def _problem(name: str, args: tuple, kwargs: dict) -> str | None:
    if name in AFFINE or name in PIECEWISE:
        return None
    if name in PRODUCTS:
        operands = [a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)]
        return None if sum(_depends(a) for a in operands) <= 1 else f"{name} of two activations"
    if name in QUOTIENTS:
        divisor = args[1] if len(args) > 1 else kwargs.get("other")
        return None if not _depends(divisor) else f"{name} by an activation"
    if name in EVAL_ONLY:
        position, default = EVAL_ONLY[name]
        training = args[position] if len(args) > position else kwargs.get(
            "training", kwargs.get("train", default))
        return None if not training else f"{name} with batch statistics or random drops"
    return name
