"""How important each weight of a trained model is: the scores a criterion ranks by (section 6).

The paper ranks by magnitude and names the limitation itself (section 6): "some small weights
may be crucial whereas some bigger weights may be unimportant". These scores rank the same
trained weights in other ways, each computed *once* per trained model (never per level) and
ranked by `propensity.pruning.allocation`; a larger score means more important, so the
smallest is pruned first.

Every score returns, per model, one tensor per prunable layer (`prunable_weights` order) of the
weight's shape. The gradient scores (SNIP, OBD) read a seeded sample of ``samples`` training
examples (`sample`) at the trained weights, with the model in eval mode (BatchNorm uses its
running statistics: the state in which the pruned model is evaluated). SNIP is batched over the
members of a cohort with ``torch.func.vmap`` over their stacked parameters; OBD scores members
one after another, each batched over its samples (its per-layer sums of squared per-sample
gradients are matmuls that a vmap over members would not make fewer).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from propensity.pruning.prunable import prunable_weights

Split = tuple[torch.Tensor, torch.Tensor]
LayerScores = list[torch.Tensor]
# Elements of per-sample gradients held at once (x 4 bytes in float32): 128 MiB.
GRADIENT_ELEMENTS = 2**25
# Samples a forward of SNIP's pass (the sum of the gradients does not depend on it but for rounding).
SNIP_BATCH = 1024
# Samples a forward of OBD's passes, fewer where a convolution's per-sample gradients are large.
OBD_BATCH = 256


def sample(x: torch.Tensor, y: torch.Tensor, samples: int, seed: int) -> Split:
    """`samples` training examples (all of them if fewer), drawn without replacement by a
    generator seeded with `seed` alone: a score depends on nothing but the run and this seed."""
    if samples < 1:
        raise ValueError(f"pruning.score_samples={samples} must be at least 1, e.g. 256")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(int(seed)))
    index = order[: min(samples, len(x))].to(x.device)
    return x[index], y[index]


def magnitude(models: Sequence[nn.Module], data: Sequence[Split | None]) -> list[LayerScores]:
    """|w|, the paper's score (section 3.2)."""
    return [[w.detach().abs() for _, w in prunable_weights(m)] for m in models]


def _stacked(models: Sequence[nn.Module]) -> tuple[nn.Module, dict, dict, list[str]]:
    """A parameter-free template of the models' class and their stacked parameters and buffers."""
    params, buffers = stack_module_state(list(models))  # type: ignore[arg-type]
    params = {k: v.detach() for k, v in params.items()}
    template = copy.deepcopy(models[0]).to("meta").eval()
    names = [name for name, _ in prunable_weights(models[0])]
    return template, params, buffers, names


def _modes(models: Sequence[nn.Module]) -> list[dict[nn.Module, bool]]:
    return [{m: m.training for m in model.modules()} for model in models]


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def _check_data(models: Sequence[nn.Module], data: Sequence[Split | None], score: str) -> list[Split]:
    if len(data) != len(models) or any(d is None for d in data):
        raise ValueError(f"the {score} score reads training samples: pass one (x, y) per model")
    sizes = {len(d[0]) for d in data if d is not None}
    if len(sizes) != 1:
        raise ValueError(f"the {score} score batches members with one sample count; got {sorted(sizes)}")
    return [d for d in data if d is not None]


def snip(models: Sequence[nn.Module], data: Sequence[Split | None]) -> list[LayerScores]:
    """SNIP's connection sensitivity |w * dL/dw| (Lee et al. 2019, "SNIP: single-shot network
    pruning based on connection sensitivity"), L the mean cross-entropy of the sample.

    Departure from the paper: SNIP scores at initialisation, on one mini-batch, to prune before
    training; here it scores the *trained* weights (this project prunes after training, section
    3.2), on the seeded sample. It is the first-order Taylor estimate of the loss change when a
    weight is removed, which is why it is also called the Taylor criterion (Molchanov et al. 2017).
    One backward pass over the sample, all members at once.
    """
    samples = _check_data(models, data, "SNIP")
    template, params, buffers, names = _stacked(models)
    n = len(samples[0][0])

    def loss(p: dict, b: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(template, (p, b), (x,)), y, reduction="sum")

    per_member = vmap(grad(loss), in_dims=(0, 0, 0, 0))
    x = torch.stack([s[0] for s in samples])
    y = torch.stack([s[1] for s in samples])
    total = {name: torch.zeros_like(params[name]) for name in names}
    for part in _chunks(n, SNIP_BATCH):
        grads = per_member(params, buffers, x[:, part], y[:, part])
        for name in names:
            total[name] += grads[name]
    return [[(params[name][k] * total[name][k] / n).abs() for name in names] for k in range(len(models))]


def obd(models: Sequence[nn.Module], data: Sequence[Split | None]) -> list[LayerScores]:
    """Optimal Brain Damage's saliency 1/2 * H_ii * w^2 (LeCun, Denker & Solla 1990), H the
    Hessian of the mean cross-entropy of the sample, with the **exact diagonal** of H.

    Why exact and how: each logit of these networks (ReLU, max-pool, average-pool, eval-mode
    BatchNorm) is piecewise linear in any single weight, so the second derivative of a logit
    along one weight is zero almost everywhere and the Hessian's diagonal equals that of the
    Gauss-Newton matrix J^T H_z J, H_z = diag(p) - p p^T the softmax cross-entropy's Hessian in
    the logits. H_z = S S^T with the columns s_c = sqrt(p_c) (e_c - p), so
    H_ii = mean over samples n of sum_c (J_n^T s_nc)_i^2. Per class c, one backward pass of the
    batch gives every layer's output gradient delta_n; a sample's weight gradient is then
    delta_n a_n^T for a dense layer (so the sum of squares is one matmul, (delta^2)^T a^2) and
    sum over positions of delta_n,p u_n,p^T for a convolution (u: the unfolded input; squared per
    sample). On a network with curved activations this would be the Gauss-Newton approximation;
    LeCun et al. used the same Gauss-Newton ("Levenberg-Marquardt") approximation for their
    sigmoid networks. Departure: OBD prunes, retrains and repeats; here it scores once, after
    training, without retraining (section 3.2). Members are scored one after another: per
    sample it is one forward and one backward per class, the work of C (classes) SNIP passes.
    """
    samples = _check_data(models, data, "OBD")
    return [_obd_one(model, x) for model, (x, _) in zip(models, samples, strict=True)]


def _layers(model: nn.Module) -> list[nn.Module]:
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    if len(layers) != len(prunable_weights(model)) or any(
            isinstance(m, nn.Conv2d) and m.groups != 1 for m in layers):
        raise ValueError("OBD's Hessian diagonal knows Linear and ungrouped Conv2d layers only")
    return layers


def _obd_one(model: nn.Module, x: torch.Tensor) -> LayerScores:
    layers = _layers(model)
    diagonal = [torch.zeros_like(m.weight, dtype=torch.float64 if m.weight.dtype == torch.float64
                                 else torch.float32) for m in layers]
    largest = max(m.weight.numel() for m in layers if isinstance(m, nn.Conv2d)) if any(
        isinstance(m, nn.Conv2d) for m in layers) else 1
    batch = max(1, min(OBD_BATCH, GRADIENT_ELEMENTS // largest))
    seen: dict[nn.Module, tuple[torch.Tensor, torch.Tensor]] = {}

    def keep(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if module in seen:
            raise ValueError("OBD's Hessian diagonal needs each layer called once per forward")
        seen[module] = (inputs[0].detach(), output)

    handles = [m.register_forward_hook(keep) for m in layers]
    try:
        with torch.enable_grad():
            frozen = not any(w.requires_grad for w in (m.weight for m in layers))
            for part in _chunks(len(x), batch):
                seen.clear()
                # frozen weights: the layer outputs still need a graph, so the input carries one
                z = model(x[part].detach().requires_grad_() if frozen else x[part])
                p = torch.softmax(z.detach(), dim=1)
                outputs = [seen[m][1] for m in layers]
                for c in range(z.shape[1]):
                    s = p[:, c : c + 1].sqrt() * (F.one_hot(torch.tensor(c), z.shape[1]).to(p) - p)
                    deltas = torch.autograd.grad((z * s).sum(), outputs, retain_graph=c + 1 < z.shape[1])
                    for i, (m, delta) in enumerate(zip(layers, deltas, strict=True)):
                        diagonal[i] += _squared_gradients(m, seen[m][0], delta.detach())
    finally:
        for h in handles:
            h.remove()
        seen.clear()
    n = len(x)
    return [(0.5 * d / n * m.weight.detach().square()).abs().to(m.weight.dtype)
            for m, d in zip(layers, diagonal, strict=True)]


def _squared_gradients(module: nn.Module, a: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Sum over the batch of each sample's weight gradient squared, given the layer's input `a`
    and output gradient `delta`."""
    if isinstance(module, nn.Linear):
        if a.dim() != 2:
            raise ValueError("OBD's Hessian diagonal needs dense layers on flat inputs")
        return delta.square().T @ a.square()
    assert isinstance(module, nn.Conv2d)
    total = torch.zeros_like(module.weight)
    positions = delta[0].numel() // delta.shape[1]
    # unfolded inputs and per-sample gradients of a few samples at a time: bounded memory
    size = max(1, GRADIENT_ELEMENTS // max(module.weight.numel(), module.weight[0].numel() * positions))
    for part in _chunks(len(a), size):
        unfolded = F.unfold(a[part], module.kernel_size, module.dilation,  # type: ignore[arg-type]
                            module.padding, module.stride)  # type: ignore[arg-type]
        per_sample = torch.bmm(delta[part].flatten(2), unfolded.transpose(1, 2))  # n x out x in*kh*kw
        total += per_sample.square().sum(dim=0).view_as(module.weight)
    return total


def synflow(models: Sequence[nn.Module], data: Sequence[Split | None]) -> list[LayerScores]:
    """SynFlow's synaptic saliency |w * dR/dw| (Tanaka et al. 2020, "Pruning neural networks
    without any data by iteratively conserving synaptic flow"), data-free.

    As the authors' code does: in float64 (R overflows float32 in deep models), every floating
    parameter and buffer replaced by its absolute value, eval mode, R the sum of the outputs
    for an all-ones input of the data's shape (the shape is read from ``data``, the only use of
    it). Departure: SynFlow prunes iteratively (100 rounds of re-scoring, to avoid layer
    collapse at initialisation); here it is **one-shot**, scored once on the trained weights, so
    that, as every criterion of this project, it is computed once per model and not per level.
    One forward and backward per model: nothing worth batching.
    """
    out = []
    for model, split in zip(models, data, strict=True):
        if split is None:
            raise ValueError("SynFlow needs the input shape: pass a split (x, y) per model")
        linear = copy.deepcopy(model).double().eval()
        with torch.no_grad():
            for tensor in [*linear.parameters(), *linear.buffers()]:
                if tensor.is_floating_point():
                    tensor.abs_()
        ones = torch.ones((1, *split[0].shape[1:]), dtype=torch.float64, device=split[0].device)
        weights = [w.requires_grad_() for _, w in prunable_weights(linear)]
        flow = linear(ones).sum()
        grads = torch.autograd.grad(flow, weights)
        out.append([(w * g).detach().abs() for w, g in zip(weights, grads, strict=True)])
    return out


@dataclass(frozen=True)
class Score:
    """A score by name: its function and whether it reads training samples."""

    function: Callable[[Sequence[nn.Module], Sequence[Split | None]], list[LayerScores]]
    needs_train_split: bool


SCORES: dict[str, Score] = {
    "magnitude": Score(magnitude, False),
    "snip": Score(snip, True),
    "obd": Score(obd, True),
    "synflow": Score(synflow, False),
}


def scores(
    name: str, models: Sequence[nn.Module], data: Sequence[Split | None]
) -> list[LayerScores]:
    """Score `name` of every model (`SCORES`), models left unchanged (weights and modes).

    `data` holds each model's sample: training samples for a score that needs them
    (`sample`), any split otherwise (SynFlow reads its shape, magnitude nothing).
    """
    if name not in SCORES:
        raise ValueError(f"score {name!r} is unknown; use one of {tuple(SCORES)}")
    modes = _modes(models)
    try:
        for model in models:
            model.eval()
        return SCORES[name].function(models, data)
    finally:
        for mode in modes:
            for module, training in mode.items():
                module.training = training
