"""Which tensors count as a model's weights: the one source of the weight counts (Table 1)."""

from torch import nn


def prunable_weights(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """Every Linear and Conv weight, output layer included, in module order.

    Biases and BatchNorm parameters are not weights in the paper's sense: they are never
    pruned and never counted.
    """
    return [
        (f"{name}.weight" if name else "weight", module.weight)
        for name, module in model.named_modules()
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))
    ]


def weights_per_layer(model: nn.Module) -> dict[str, int]:
    """Number of prunable weights in each layer, keyed by parameter name."""
    return {name: weight.numel() for name, weight in prunable_weights(model)}


def total_weights(model: nn.Module) -> int:
    """Total prunable weights, the denominator of effective density."""
    return sum(weights_per_layer(model).values())
