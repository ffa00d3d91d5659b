"""Per-run artifacts for the mechanism analyses of section 5, computed once at the end of a run.

Each is opt-in (``artifacts.weights`` / ``.correctness`` / ``.activations``) and lives in
``<run_dir>/artifacts/`` under a fixed name:

- ``weights_init.safetensors``, ``weights_final.safetensors``: the prunable weights (keys as
  in :func:`~propensity.pruning.prunable.prunable_weights`) at initialisation and after
  training, for the init-vs-trained overlap (section 5.1). Tensors only, so loading runs no code.
- ``correctness.npz``: one bit per validation image (``np.packbits``) and the predicted labels,
  for functional similarity (section 5.2).
- ``activations.npz``: per hidden layer, per unit, the Hoyer sparsity, both class
  selectivities and the class means on the validation set (section 5.3); never raw activations.

The functions here are pure (model and tensors in, arrays or files out). The recipe writes
them for every trained model (`save_initial_weights` before a fresh fit, `save_final_artifacts`
after it); the Lightning callback in :mod:`propensity.engines.callbacks.save_artifacts` calls
the same two for a researcher's own Trainer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from propensity.mechanisms.settings import ArtifactSettings
from propensity.mechanisms.unit_statistics import (
    class_selectivity,
    class_selectivity_normalized,
    hoyer_from_norms,
)
from propensity.pruning.prunable import prunable_weights
from propensity.storage.atomic import write_atomic

ARTIFACTS_DIR = "artifacts"
WEIGHTS_INIT = "weights_init.safetensors"
WEIGHTS_FINAL = "weights_final.safetensors"
CORRECTNESS = "correctness.npz"
ACTIVATIONS = "activations.npz"


def artifact_path(run_dir: str | Path, name: str) -> Path:
    """Where artifact `name` (one of the constants above) of the run in `run_dir` lives."""
    return Path(run_dir) / ARTIFACTS_DIR / name


def _savez(path: str, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` into exactly `path` (given a path, numpy would append .npz)."""
    with open(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)


def prunable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the model's prunable weights, keyed by parameter name."""
    return {name: w.detach().to("cpu", copy=True) for name, w in prunable_weights(model)}


def save_weights(
    path: str | Path, named_tensors: Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]
) -> None:
    """Save named tensors as safetensors (no pickle: loading cannot execute code)."""
    items = named_tensors.items() if isinstance(named_tensors, Mapping) else named_tensors
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in items}
    write_atomic(path, lambda tmp: save_file(tensors, tmp))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors saved by :func:`save_weights`, in their saved order."""
    return dict(load_file(str(path)))


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def correctness(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, whether the model classifies it correctly, and the predicted label (5.2).

    Evaluated in eval mode (BatchNorm running statistics); the model's mode is restored.
    """
    was_training = model.training
    model.eval()
    device = _model_device(model)
    try:
        predicted = torch.cat([
            model(x[i:i + batch_size].to(device)).argmax(dim=1).cpu()
            for i in range(0, len(x), batch_size)
        ])
    finally:
        model.train(was_training)
    return predicted == y.cpu(), predicted


def save_correctness(path: str | Path, correct: torch.Tensor, predicted: torch.Tensor) -> None:
    """Store the correctness vector as bits (5,000 images -> 625 bytes) and the predictions."""
    bits = np.asarray(correct.cpu(), dtype=bool)
    pred = np.asarray(predicted.cpu())
    dtype = np.uint8 if pred.size == 0 or pred.max() < 256 else np.int64
    write_atomic(path, lambda tmp: _savez(
        tmp, bits=np.packbits(bits), n=np.int64(bits.size), predicted=pred.astype(dtype)
    ))


def load_correctness(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(correct: bool array, predicted: int64 array) as saved by :func:`save_correctness`."""
    with np.load(path, allow_pickle=False) as data:
        n = int(data["n"])
        correct = np.unpackbits(data["bits"], count=n).astype(bool)
        return correct, data["predicted"].astype(np.int64)


# Modules whose outputs are a hidden layer's unit activations in a model without ``hidden``.
ACTIVATION_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
)


def hidden_outputs(model: nn.Module, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """The named hidden activations of `model` on `x` (section 5.3), in the order computed.

    ``model.hidden(x)`` where the model defines it (the paper's models, the ViT), named by
    `hidden_layer_names`. Any other model (a researcher's own) is read by forward hooks: the
    output of every activation module (`ACTIVATION_MODULES`: ReLU, Tanh, GELU, ...) under its
    module name, a module called twice as ``name#2``; a model with none (its nonlinearities
    functional) gives the outputs of its Linear and Conv layers but the last. A unit is an
    output's dimension 1 (a feature, or a convolution's channel).
    """
    if callable(getattr(model, "hidden", None)):
        outputs = list(model.hidden(x))
        return list(zip(hidden_layer_names(model, len(outputs)), outputs, strict=True))
    modules = [(n, m) for n, m in model.named_modules() if isinstance(m, ACTIVATION_MODULES)]
    if not modules:
        layers = [name.removesuffix(".weight").removesuffix("weight") for name, _ in prunable_weights(model)]
        modules = [(name, model.get_submodule(name)) for name in layers[:-1]]
    seen: list[tuple[str, torch.Tensor]] = []
    calls: dict[str, int] = {}

    def keep(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, args: object, output: torch.Tensor) -> None:
            calls[name] = calls.get(name, 0) + 1
            seen.append((name if calls[name] == 1 else f"{name}#{calls[name]}", output))
        return hook

    handles = [m.register_forward_hook(keep(n)) for n, m in modules]
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def hidden_layer_names(model: nn.Module, count: int) -> list[str]:
    """Names for the `count` outputs of ``model.hidden``.

    MLP and Conv-2 have one hidden output per prunable layer but the projection, so the
    output is named after that layer (fc1, fc2 / conv1, conv2, fc1, fc2, as in Tables 3
    and 4). Models without that correspondence (ResNet: stem and blocks) get hidden1, ...
    unless they define ``hidden_names``.
    """
    names = getattr(model, "hidden_names", None)
    if names is not None and len(names) == count:
        return list(names)
    layers = [name.removesuffix(".weight") for name, _ in prunable_weights(model)]
    if len(layers) == count + 1:
        return layers[:-1]
    return [f"hidden{i + 1}" for i in range(count)]


@torch.no_grad()
def activation_statistics(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, batch_size: int = 1024
) -> dict[str, dict[str, np.ndarray]]:
    """Per hidden layer, per unit: Hoyer sparsity and class selectivity on (x, y) (section 5.3).

    Activations come from `hidden_outputs` (``model.hidden(x)``, post-ReLU, where the model
    defines it; else its activation modules' outputs) in eval mode. A convolutional
    unit is a channel, its activation on an image the mean over spatial positions. The
    statistics stream over batches (sums of |a|, a^2 and per-class sums in float64), so
    memory stays at one batch. Returns ``{layer: {"hoyer", "selectivity",
    "selectivity_normalized", "class_means" (units x classes)}}``.
    """
    was_training = model.training
    model.eval()
    device = _model_device(model)
    y = y.cpu().long()
    l1: list[torch.Tensor] = []
    l2sq: list[torch.Tensor] = []
    sums: list[torch.Tensor] = []
    names: list[str] = []
    try:
        for i in range(0, len(x), batch_size):
            labels = torch.nn.functional.one_hot(y[i:i + batch_size], num_classes).double()
            outputs = hidden_outputs(model, x[i:i + batch_size].to(device))
            if not names:
                names = [name for name, _ in outputs]
            for j, (_, a) in enumerate(outputs):
                a = a.double().cpu()
                if a.dim() > 2:
                    a = a.flatten(2).mean(dim=2)
                terms = (a.abs().sum(0), (a * a).sum(0), labels.T @ a)
                if j == len(l1):
                    l1.append(terms[0])
                    l2sq.append(terms[1])
                    sums.append(terms[2])
                else:
                    l1[j] += terms[0]
                    l2sq[j] += terms[1]
                    sums[j] += terms[2]
    finally:
        model.train(was_training)
    counts = torch.bincount(y, minlength=num_classes).double().numpy()
    stats = {}
    for name, s1, s2, class_sums in zip(names, l1, l2sq, sums, strict=True):
        with np.errstate(divide="ignore", invalid="ignore"):
            means = (class_sums.numpy() / np.where(counts > 0, counts, np.nan)[:, None]).T
        stats[name] = {
            "hoyer": hoyer_from_norms(s1.numpy(), np.sqrt(s2.numpy()), len(x)),
            "selectivity": class_selectivity(means),
            "selectivity_normalized": class_selectivity_normalized(means),
            "class_means": means,
        }
    return stats


def save_activation_statistics(
    path: str | Path, stats: Mapping[str, Mapping[str, np.ndarray]]
) -> None:
    """Store the nested statistics flat in one npz as ``<layer>/<statistic>`` (float32)."""
    arrays = {
        f"{layer}/{key}": np.asarray(value, dtype=np.float32)
        for layer, per_unit in stats.items()
        for key, value in per_unit.items()
    }
    arrays["layers"] = np.array(list(stats), dtype=str)
    write_atomic(path, lambda tmp: _savez(tmp, **arrays))


def load_activation_statistics(
    path: str | Path, names: Iterable[str] | None = None
) -> dict[str, dict[str, np.ndarray]]:
    """The nested statistics saved by :func:`save_activation_statistics`, layers in order;
    only the statistics in `names` when given (an npz decompresses only what is read)."""
    wanted = None if names is None else set(names)
    with np.load(path, allow_pickle=False) as data:
        stats: dict[str, dict[str, np.ndarray]] = {str(layer): {} for layer in data["layers"]}
        for key in data.files:
            if key != "layers":
                layer, name = key.rsplit("/", 1)
                if wanted is None or name in wanted:
                    stats[layer][name] = data[key]
    return stats


def save_initial_weights(model: nn.Module, run_dir: str | Path) -> None:
    """The prunable weights at initialisation (section 5.1), written before a fresh fit only:
    a resumed run's restored weights are not its initialisation, and its first attempt wrote them."""
    save_weights(artifact_path(run_dir, WEIGHTS_INIT), prunable_state(model))


def save_final_artifacts(
    model: nn.Module,
    run_dir: str | Path,
    settings: ArtifactSettings,
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int | None = None,
    batch_size: int = 1024,
) -> None:
    """The trained model's artifacts of `settings`: its weights, and its correctness and unit
    statistics on (x, y), the validation split (sections 5.1-5.3). `num_classes` defaults to
    the output layer's width."""
    if settings.weights:
        save_weights(artifact_path(run_dir, WEIGHTS_FINAL), prunable_state(model))
    if settings.correctness:
        correct, predicted = correctness(model, x, y, batch_size)
        save_correctness(artifact_path(run_dir, CORRECTNESS), correct, predicted)
    if settings.activations:
        classes = num_classes or prunable_weights(model)[-1][1].shape[0]
        stats = activation_statistics(model, x, y, int(classes), batch_size)
        save_activation_statistics(artifact_path(run_dir, ACTIVATIONS), stats)
