"""How important each weight of a trained model is: the scores a criterion ranks by (section 6).

The paper ranks by magnitude and names the limitation itself (section 6): "some small weights
may be crucial whereas some bigger weights may be unimportant". These scores rank the same
trained weights in other ways, each computed *once* per trained model (never per level) and
ranked by `propensity.pruning.allocation`; a larger score means more important, so the
smallest is pruned first.

Every score returns, per model, one tensor per prunable layer (`prunable_weights` order) of the
weight's shape. The gradient scores (SNIP, OBD and its Gauss-Newton form) read a seeded sample
of ``samples`` training examples (`sample`) at the trained weights, with the model in eval mode
(BatchNorm uses its running statistics: the state in which the pruned model is evaluated).
SNIP is batched over the members of a cohort with ``torch.func.vmap`` over their stacked
parameters; OBD (`propensity.pruning.obd`) scores members one after another, each batched
over its samples (its per-layer sums of squared per-sample gradients are matmuls that a vmap
over members would not make fewer).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from propensity.pruning.obd import LayerScores, obd_refusal
from propensity.pruning.obd import obd as obd_exact
from propensity.pruning.obd import obd_gn as obd_gauss_newton
from propensity.pruning.prunable import prunable_weights

Split = tuple[torch.Tensor, torch.Tensor]
# Samples a forward of SNIP's pass (the sum of the gradients does not depend on it but for rounding).
SNIP_BATCH = 1024


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
    """Optimal Brain Damage's saliency 1/2 * H_ii * w^2 with the **exact** Hessian diagonal, for
    networks piecewise linear in their weights; any other model is refused
    (`propensity.pruning.obd`)."""
    return obd_exact(models, _check_data(models, data, "OBD"))


def obd_gn(models: Sequence[nn.Module], data: Sequence[Split | None]) -> list[LayerScores]:
    """OBD's saliency with the Gauss-Newton diagonal of the Hessian: exact on a piecewise-linear
    network, LeCun et al.'s own approximation elsewhere (`propensity.pruning.obd`)."""
    return obd_gauss_newton(models, _check_data(models, data, "OBD (Gauss-Newton)"))


def synflow(models: Sequence[nn.Module], data: Sequence[Split | None]) -> list[LayerScores]:
    """SynFlow's synaptic saliency |w * dR/dw| (Tanaka et al. 2020, "Pruning neural networks
    without any data by iteratively conserving synaptic flow"), data-free.

    As the authors' code does: every floating parameter and buffer replaced by its absolute
    value, eval mode, R the sum of the outputs for an all-ones input of the data's shape (the
    shape is read from ``data``, the only use of it). Unlike their code, whose cast to float64
    is commented out, this runs in float64: R sums over every input-output path a product of
    absolute weights, which can exceed float32's range (3.4e38) in a deep or wide model.
    Departure: SynFlow prunes iteratively (100 rounds of re-scoring, to avoid layer collapse at
    initialisation); here it is **one-shot**, scored once on the trained weights, so that, as
    every criterion of this project, it is computed once per model and not per level.
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


# (model, input shape) -> why the score cannot take the model ("problem; fix"), or None
Refusal = Callable[[nn.Module, Sequence[int]], str | None]


@dataclass(frozen=True)
class Score:
    """A score by name: its function, whether it reads training samples, and, for a score that
    cannot take every model, why it cannot take a given one."""

    function: Callable[[Sequence[nn.Module], Sequence[Split | None]], list[LayerScores]]
    needs_train_split: bool
    refusal: Refusal | None = None


def _obd_gn_refusal(model: nn.Module, input_shape: Sequence[int]) -> str | None:
    return obd_refusal(model, input_shape, exact=False)


SCORES: dict[str, Score] = {
    "magnitude": Score(magnitude, False),
    "snip": Score(snip, True),
    "obd": Score(obd, True, obd_refusal),
    "obd_gn": Score(obd_gn, True, _obd_gn_refusal),
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
