"""Optimal Brain Damage's saliency 1/2 * H_ii * w^2 (LeCun, Denker & Solla 1990), in two names.

H is the Hessian of the mean cross-entropy of a seeded sample of training examples, at the
trained weights, in eval mode (`propensity.pruning.scores`). Departure from the paper: OBD
prunes, retrains and repeats; here it scores once, after training, without retraining
(section 3.2), as every criterion of section 6 does.

**Where the diagonal is exact, and the decision for everywhere else.** Write the loss's Hessian
as J^T H_z J + sum_c (dL/dz_c) d^2 z_c / dw^2 (z the logits, J their Jacobian, H_z = diag(p) - p p^T
the softmax cross-entropy's Hessian in the logits). On a network that is piecewise linear in
each layer's weights (dense and convolutional layers, ReLU, max- and average-pooling,
eval-mode BatchNorm and dropout, sums: `propensity.pruning.piecewise_linear`), d^2 z / dw_i^2 is
zero almost everywhere and the diagonal of H *is* that of the Gauss-Newton matrix J^T H_z J.
Elsewhere (Tanh, GELU, LayerNorm, softmax attention, a product of two activations) the second
term is not zero: on a Tanh-LayerNorm network it makes entries of the exact diagonal negative and
reorders most of a layer's ranks. So:

- ``obd`` is the exact diagonal, and only that: a model that is not piecewise linear in its
  weights is refused, before training by the pre-flight (`PruningMethod.refusal`) and again
  here, in one line naming the module and the operation;
- ``obd_gn`` is the Gauss-Newton diagonal on any model of dense and convolutional layers, the
  approximation LeCun et al. themselves used ("Levenberg-Marquardt") for their sigmoid
  networks. It is a criterion of its own name, so its records and the report's rows say
  ``obd_gn``; on a piecewise-linear network it equals ``obd``.

**How.** H_z = S S^T with the columns s_c = sqrt(p_c) (e_c - p), so
(J^T H_z J)_ii = mean over samples n of sum_c (J_n^T s_nc)_i^2. Per class c, one backward pass of
the batch gives every layer's output gradient delta_n; a sample's weight gradient is then
delta_n a_n^T for a dense layer on flat inputs (so the sum of squares is one matmul,
(delta^2)^T a^2), and the sum over positions of delta_n,p a_n,p^T for a convolution (a: the
unfolded input) or a dense layer applied at several positions (tokens), squared per sample. A
forward hook hands the rest of the network a copy of each layer's output, so an in-place
operation after a layer (``nn.ReLU(inplace=True)``, ``out += x``) leaves the output the gradient
is taken at as it was. (A layer's input needs no copy: autograd keeps it for the weight's
gradient, so a network that trains cannot write into it.) Members are scored
one after another: per sample it is one forward and one backward per class, the work of C
(classes) SNIP passes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from propensity.pruning.piecewise_linear import describe, probe

LayerScores = list[torch.Tensor]
Samples = Sequence[tuple[torch.Tensor, torch.Tensor]]
# Elements of per-sample gradients held at once (x 4 bytes in float32): 128 MiB.
GRADIENT_ELEMENTS = 2**25
# Samples a forward of OBD's passes, fewer where a convolution's per-sample gradients are large.
OBD_BATCH = 256


def obd_refusal(model: nn.Module, input_shape: Sequence[int], *, exact: bool = True) -> str | None:
    """Why OBD (``exact``) or its Gauss-Newton diagonal (not ``exact``) cannot score `model`,
    as ``problem; fix``, or None; read from one forward on the meta device (`probe`)."""
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv1d, nn.Conv3d)) or (isinstance(module, nn.Conv2d) and (
                module.groups != 1 or isinstance(module.padding, str) or module.padding_mode != "zeros")):
            return (f"{describe(model, name)}: OBD's per-sample gradients know Linear layers and "
                    "ungrouped, zero-padded Conv2d layers with numeric padding only; use snip or synflow")
    found = probe(model, input_shape)
    for name, calls in found.calls.items():
        if calls != 1:
            return (f"{describe(model, name)} is called {calls} times per forward: OBD's per-sample "
                    "gradients need each layer called once; use snip or synflow")
    if exact and found.curved is not None:
        return (f"{found.curved}, so the network is not piecewise linear in its weights and the "
                "Gauss-Newton diagonal OBD computes is not the Hessian's; use obd_gn (the Gauss-Newton "
                "diagonal, recorded as obd_gn) or snip")
    return None


def obd(models: Sequence[nn.Module], data: Samples) -> list[LayerScores]:
    """OBD's saliency with the exact Hessian diagonal; refuses a model where it would not be
    exact (module docstring)."""
    return _saliencies(models, data, exact=True)


def obd_gn(models: Sequence[nn.Module], data: Samples) -> list[LayerScores]:
    """OBD's saliency with the Gauss-Newton diagonal J^T H_z J (module docstring): the exact
    Hessian's on a piecewise-linear network, an approximation elsewhere."""
    return _saliencies(models, data, exact=False)


def _saliencies(models: Sequence[nn.Module], data: Samples, *, exact: bool) -> list[LayerScores]:
    out = []
    for model, (x, _) in zip(models, data, strict=True):
        problem = obd_refusal(model, x.shape[1:], exact=exact)
        if problem is not None:
            raise ValueError(f"{'obd' if exact else 'obd_gn'} cannot score {type(model).__name__}: {problem}")
        out.append(_obd_one(model, x))
    return out


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _obd_one(model: nn.Module, x: torch.Tensor) -> LayerScores:
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    diagonal = [torch.zeros_like(m.weight, dtype=torch.float64 if m.weight.dtype == torch.float64
                                 else torch.float32) for m in layers]
    largest = max((m.weight.numel() for m in layers if isinstance(m, nn.Conv2d)), default=1)
    batch = max(1, min(OBD_BATCH, GRADIENT_ELEMENTS // largest))
    inputs: dict[nn.Module, torch.Tensor] = {}
    outputs: dict[nn.Module, torch.Tensor] = {}

    def keep(module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        inputs[module], outputs[module] = args[0].detach(), output
        return output.clone()  # what follows may write into it in place; this output stays

    handles = [m.register_forward_hook(keep) for m in layers]
    try:
        with torch.enable_grad():
            frozen = not any(m.weight.requires_grad for m in layers)
            for part in _chunks(len(x), batch):
                # frozen weights: the layer outputs still need a graph, so the input carries one
                z = model(x[part].detach().requires_grad_() if frozen else x[part])
                p = torch.softmax(z.detach(), dim=1)
                for c in range(z.shape[1]):
                    s = p[:, c : c + 1].sqrt() * (F.one_hot(torch.tensor(c), z.shape[1]).to(p) - p)
                    deltas = torch.autograd.grad((z * s).sum(), [outputs[m] for m in layers],
                                                 retain_graph=c + 1 < z.shape[1])
                    for i, (m, delta) in enumerate(zip(layers, deltas, strict=True)):
                        diagonal[i] += _squared_gradients(m, inputs[m], delta.detach())
    finally:
        for h in handles:
            h.remove()
        inputs.clear()
        outputs.clear()
    n = len(x)
    return [(0.5 * d / n * m.weight.detach().square()).abs().to(m.weight.dtype)
            for m, d in zip(layers, diagonal, strict=True)]


def _squared_gradients(module: nn.Module, a: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Sum over the batch of each sample's weight gradient squared, given the layer's input `a`
    and output gradient `delta`."""
    if isinstance(module, nn.Linear) and a.dim() == 2:
        return delta.square().T @ a.square()
    weight = module.weight
    assert isinstance(weight, torch.Tensor)
    total = torch.zeros_like(weight)
    if isinstance(module, nn.Linear):  # applied at every position (token) of a sample
        a, delta = a.flatten(1, -2), delta.flatten(1, -2)  # n x positions x features
        positions = a.shape[1]
    else:
        positions = delta[0].numel() // delta.shape[1]
    # a few samples' unfolded inputs and per-sample gradients at a time: bounded memory
    size = max(1, GRADIENT_ELEMENTS // max(weight.numel(), weight[0].numel() * positions))
    for part in _chunks(len(a), size):
        if isinstance(module, nn.Linear):
            per_sample = torch.bmm(delta[part].transpose(1, 2), a[part])  # n x out x in
        else:
            unfolded = F.unfold(a[part], module.kernel_size, module.dilation,  # type: ignore[arg-type]
                                module.padding, module.stride)  # type: ignore[arg-type]
            per_sample = torch.bmm(delta[part].flatten(2), unfolded.transpose(1, 2))  # n x out x in*kh*kw
        total += per_sample.square().sum(dim=0).view_as(weight)
    return total
