"""Edge-popup on a trained network: the best subnetwork of each density (section 6, future work).

Magnitude pruning (section 3.2) is unlikely to find the best subnetwork of a given size
("some small weights may be crucial whereas some bigger weights may be unimportant"); the
paper proposes Ramanujan et al.'s (2020) edge-popup instead (section 2). Here the trained
weights stay frozen and, for each target density d, every prunable layer gets a real score
per weight; the forward pass uses the weights whose |scores| are among the layer's top
``k = round(d * n)`` (layer-wise, like the paper's pruning; |score| as in Ramanujan et al.'s
code), and the backward pass sends the gradient straight through the hard mask to the
scores (dL/ds = dL/dw_eff * w * sign(s)). Only scores
are optimised, on the training set; the mask with the best validation accuracy is reported.

Scores start at |w| by default (``score_init="magnitude"``): the initial mask *is* the
layer-wise magnitude mask, so the search starts from the paper's subnetwork and the report
(the best over evaluations, the start included) is never below magnitude pruning on the
validation set; what edge-popup adds is what the scores learn. ``score_init="kaiming"``
draws scores as Ramanujan et al. do (Kaiming uniform), a search from a random mask.

Cost is bounded by the arguments: ``len(densities) * epochs`` passes over the training set
plus ``evals_per_epoch`` validation passes each. The model is run through
``torch.func.functional_call`` with substituted weights (no deepcopy, no in-place masking),
in eval mode (BatchNorm uses its trained statistics); its parameters, buffers and mode are
restored bitwise afterwards all the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from propensity.pruning.evaluation import batches_of, evaluate
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.trajectory import Trajectory

ScoreInit = Literal["magnitude", "kaiming"]


class _TopK(torch.autograd.Function):
    """Forward: 1 for the k highest scores of the tensor, else 0. Backward: identity."""

    @staticmethod
    def forward(ctx, scores: torch.Tensor, k: int) -> torch.Tensor:
        mask = torch.zeros(scores.numel(), dtype=scores.dtype, device=scores.device)
        if k > 0:
            # stable ascending sort: the same ranking (and ties) as the magnitude trajectory
            mask[torch.sort(scores.detach().reshape(-1), stable=True).indices[-k:]] = 1
        return mask.view_as(scores)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


def kept_per_layer(sizes: dict[str, int], density: float) -> dict[str, int]:
    """Weights each layer keeps at `density`: ``round(density * n)``, per layer."""
    if not 0 <= density <= 1:
        raise ValueError(f"edge-popup density={density} must be in [0, 1]")
    return {name: round(density * n) for name, n in sizes.items()}


def initial_scores(
    weights: dict[str, torch.Tensor], score_init: ScoreInit, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Trainable scores per layer. ``magnitude``: |w|, so the initial mask is the magnitude
    mask and scores live on the weights' scale, as Kaiming-initialised scores do in the
    original (whose lr = 0.1 then carries over). ``kaiming``: Kaiming uniform with
    a = sqrt(5), the original's default."""
    scores = {}
    for name, w in weights.items():
        if score_init == "magnitude":
            s = w.abs()
        elif score_init == "kaiming":
            s = torch.empty(w.shape, dtype=w.dtype)
            nn.init.kaiming_uniform_(s, a=math.sqrt(5), generator=generator)
            s = s.to(w.device)
        else:
            raise ValueError(f"score_init={score_init!r} is unknown; use magnitude or kaiming")
        scores[name] = s.detach().clone().requires_grad_(True)
    return scores


def _evaluate(
    model: nn.Module, params: dict[str, torch.Tensor] | None, x: torch.Tensor, y: torch.Tensor,
    batch_size: int,
) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of the model, with `params` substituted if given."""
    device = next(model.parameters()).device

    def forward(xb: torch.Tensor) -> torch.Tensor:
        xb = xb[0].to(device)
        return (model(xb) if params is None else functional_call(model, params, (xb,))).unsqueeze(0)

    batches = ((xb, yb.to(device)) for xb, yb in batches_of(x, y, batch_size))
    totals = evaluate(forward, batches)
    return int(totals.correct[0]) / len(x), float(totals.loss_sum[0]) / len(x)


@dataclass
class _Search:
    """The outcome of one density's search: best validation (acc, loss), its parameters."""

    start_acc: float
    acc: float
    loss: float
    step: int
    params: dict[str, torch.Tensor] | None


def _masked(
    weights: dict[str, torch.Tensor], scores: dict[str, torch.Tensor], kept: dict[str, int]
) -> dict[str, torch.Tensor]:
    # Ranked by |score|, as Ramanujan et al.'s GetSubnet is applied to ``scores.abs()``: a
    # score pushed far below zero marks a weight as important, not as the least important.
    return {name: w * _TopK.apply(scores[name].abs(), kept[name]) for name, w in weights.items()}


def _search(
    model: nn.Module,
    named: dict[str, torch.Tensor],
    kept: dict[str, int],
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    score_init: ScoreInit,
    evals_per_epoch: int,
    generator: torch.Generator,
    eval_batch_size: int,
) -> _Search:
    """Train one density's scores; keep the mask with the best validation accuracy
    (ties: lower loss), the start included."""
    base = {name: p.detach() for name, p in model.named_parameters()}
    device = next(model.parameters()).device
    scores = initial_scores(named, score_init, generator)
    steps_per_epoch = math.ceil(len(train[0]) / batch_size)
    optimizer = torch.optim.SGD(scores.values(), lr=lr, momentum=momentum)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, max(1, epochs * steps_per_epoch)
    )
    eval_at = {max(1, round(steps_per_epoch * (j + 1) / evals_per_epoch))
               for j in range(evals_per_epoch)}

    def masked_params() -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return {**base, **_masked(named, scores, kept)}

    params = masked_params()
    acc, loss = _evaluate(model, params, *val, eval_batch_size)
    best = _Search(acc, acc, loss, 0, params)
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(train[0]), generator=generator)
        for b in range(steps_per_epoch):
            index = order[b * batch_size:(b + 1) * batch_size]
            xb, yb = train[0][index].to(device), train[1][index].to(device)
            logits = functional_call(model, {**base, **_masked(named, scores, kept)}, (xb,))
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(logits, yb).backward()
            optimizer.step()
            schedule.step()
            step += 1
            if b + 1 in eval_at:
                params = masked_params()
                acc, loss = _evaluate(model, params, *val, eval_batch_size)
                if (acc, -loss) > (best.acc, -best.loss):
                    best = _Search(best.start_acc, acc, loss, step, params)
    return best


def edge_popup(
    model: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    densities: Sequence[float] = (0.5, 0.2, 0.1, 0.05),
    *,
    epochs: int = 1,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.9,
    score_init: ScoreInit = "magnitude",
    evals_per_epoch: int = 1,
    seed: int = 0,
    x_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    eval_batch_size: int = 8192,
) -> Trajectory:
    """Best validation accuracy edge-popup reaches at each density, as a trajectory.

    Level 0 is always the unpruned model (density 1, evaluated directly, so it reproduces
    the model's accuracy exactly), then `densities` from dense to sparse. Scores are
    trained with SGD (`lr`, `momentum`, cosine decay over the `epochs`, as Ramanujan et al.)
    on shuffled minibatches (seeded by `seed`) and evaluated `evals_per_epoch` times per
    epoch plus once at the start. ``density`` is the achieved fraction (per-layer rounding).
    Extra columns: ``target_density``, ``start_val_acc`` (the initial mask: the magnitude
    mask under ``score_init="magnitude"``) and ``best_step`` (0 = the start). Test metrics
    (of the mask chosen on validation) when `x_test` and `y_test` are given.
    """
    if epochs < 0 or batch_size < 1 or evals_per_epoch < 1:
        raise ValueError("edge-popup needs epochs >= 0, batch_size >= 1, evals_per_epoch >= 1")
    named = {name: w.detach() for name, w in prunable_weights(model)}
    sizes = {name: w.numel() for name, w in named.items()}
    targets = [1.0, *sorted({float(d) for d in densities if d < 1}, reverse=True)]
    snapshot = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    modes = {m: m.training for m in model.modules()}
    generator = torch.Generator().manual_seed(int(seed))
    rows: dict[str, list] = {c: [] for c in ("remaining", "val_acc", "val_loss", "test_acc",
                                              "test_loss", "start", "best_step")}
    model.eval()
    try:
        for target in targets:
            kept = kept_per_layer(sizes, target)
            if target == 1.0:
                acc, loss = _evaluate(model, None, x_val, y_val, eval_batch_size)
                best = _Search(acc, acc, loss, 0, None)
            else:
                best = _search(
                    model, named, kept, (x_train, y_train), (x_val, y_val), epochs=epochs,
                    batch_size=batch_size, lr=lr, momentum=momentum, score_init=score_init,
                    evals_per_epoch=evals_per_epoch, generator=generator,
                    eval_batch_size=eval_batch_size,
                )
            rows["remaining"].append(sum(kept.values()))
            rows["val_acc"].append(best.acc)
            rows["val_loss"].append(best.loss)
            rows["start"].append(best.start_acc)
            rows["best_step"].append(float(best.step))
            if x_test is not None and y_test is not None:
                test = _evaluate(model, best.params, x_test, y_test, eval_batch_size)
                rows["test_acc"].append(test[0])
                rows["test_loss"].append(test[1])
    finally:
        with torch.no_grad():
            for key, value in model.state_dict(keep_vars=True).items():
                value.copy_(snapshot[key])
        for module, training in modes.items():
            module.train(training)
    total = sum(sizes.values())
    return Trajectory(
        level=list(range(len(targets))),
        density=[r / total for r in rows["remaining"]],
        remaining_weights=rows["remaining"],
        val_acc=rows["val_acc"],
        val_loss=rows["val_loss"],
        test_acc=rows["test_acc"] or None,
        test_loss=rows["test_loss"] or None,
        method="edge_popup",
        extra={"target_density": targets, "start_val_acc": rows["start"],
               "best_step": rows["best_step"]},
    )
