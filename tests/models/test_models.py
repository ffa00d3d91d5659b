import math

import pytest
import torch
from torch import nn

from propensity.models import MLP, Conv2, ResNet, initialize
from propensity.pruning import prunable_weights, total_weights

PAPER_TABLE1_MLP = {0.1: 23_920, 0.5: 125_600, 1.0: 266_200, 2.0: 592_400, 5.0: 1_931_000}


@pytest.mark.parametrize(("width", "expected"), PAPER_TABLE1_MLP.items())
def test_mlp_weight_count_equals_table_1(width: float, expected: int) -> None:
    assert total_weights(MLP(width)) == expected


@pytest.mark.parametrize(
    ("width", "expected"),
    [(0.1, 39_761), (0.5, 1_076_320), (1.0, 4_300_992), (2.0, 17_195_392)],
)
def test_conv2_weight_count(width: float, expected: int) -> None:
    c, d = int(64 * width), int(256 * width)
    assert total_weights(Conv2(width)) == expected == 27 * c + 9 * c * c + 256 * c * d + d * d + 10 * d


@pytest.mark.parametrize(("width", "expected"), [(0.1, 91), (0.5, 3_752), (1.0, 14_416), (2.0, 56_480)])
def test_resnet_weight_count(width: float, expected: int) -> None:
    assert total_weights(ResNet(width)) == expected


def test_prunable_weights_exclude_biases_and_batchnorm() -> None:
    names = [name for name, _ in prunable_weights(ResNet(0.5))]
    assert names[0] == "stem.weight" and names[-1] == "proj.weight"
    assert all(name.endswith(".weight") and "bn" not in name for name in names)
    assert len(names) == 1 + 3 * 2 + 1


@pytest.mark.parametrize("model_cls", [MLP, Conv2, ResNet])
def test_models_take_input_shape_and_classes_from_data(model_cls: type[nn.Module]) -> None:
    model = model_cls(0.5, input_shape=(1, 8, 8), num_classes=7)
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 7)


def test_mlp_on_digits_has_64_inputs() -> None:
    assert MLP(1.0, input_shape=(1, 8, 8)).fc1.in_features == 64


@pytest.mark.parametrize("width", [0.0, -1.0, 0.001])
def test_bad_width_is_a_one_line_error(width: float) -> None:
    with pytest.raises(ValueError, match="width"):
        MLP(width)


@pytest.mark.parametrize("scheme", ["glorot", "he"])
def test_init_bounds_per_layer_type(scheme: str) -> None:
    model = initialize(Conv2(0.25, input_shape=(3, 8, 8)), scheme, init_seed=0)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            receptive = module.weight[0, 0].numel() if module.weight.dim() > 2 else 1
            fan_in = module.weight.shape[1] * receptive
            fan_out = module.weight.shape[0] * receptive
            bound = math.sqrt(6 / (fan_in + fan_out)) if scheme == "glorot" else math.sqrt(6 / fan_in)
            w = module.weight.detach()
            assert w.abs().max() <= bound
            assert w.abs().max() > 0.9 * bound  # uniform over the whole interval, not a smaller one
            assert torch.all(module.bias == 0)


def test_init_depends_on_init_seed_alone() -> None:
    torch.manual_seed(123)
    a = initialize(MLP(0.1), "he", init_seed=4)
    torch.manual_seed(999)
    b = initialize(MLP(0.1), "he", init_seed=4)
    c = initialize(MLP(0.1), "he", init_seed=5)
    assert torch.equal(a.fc1.weight, b.fc1.weight)
    assert not torch.equal(a.fc1.weight, c.fc1.weight)


def test_unknown_init_scheme_names_the_fix() -> None:
    with pytest.raises(ValueError, match="init=glorot or init=he"):
        initialize(MLP(0.1), "orthogonal", 0)  # type: ignore[arg-type]
