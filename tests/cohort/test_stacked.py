"""Stacking single models: bitwise initial weights, per-member outputs, the way back."""

from __future__ import annotations

import pytest
import torch

from propensity.cohort import stack, unstack
from propensity.models import MLP, Conv2, ResNet, initialize

SHAPE = (1, 8, 8)


def models(cls: type, k: int = 3) -> list[torch.nn.Module]:
    return [initialize(cls(0.25, SHAPE), "he", seed) for seed in range(k)]


@pytest.mark.parametrize("cls", [MLP, Conv2, ResNet])
def test_each_member_starts_from_its_single_models_weights_bitwise(cls: type) -> None:
    singles = models(cls)
    cohort = stack(singles)
    for k, single in enumerate(singles):
        for name, tensor in [*single.named_parameters(), *single.named_buffers()]:
            assert torch.equal(cohort.tensor(name)[k], tensor), name


@pytest.mark.parametrize("cls", [MLP, Conv2, ResNet])
@pytest.mark.parametrize("training", [True, False])
def test_member_outputs_equal_their_single_models(cls: type, training: bool) -> None:
    """In float64, so the only difference (the batched kernels' summation order) is far below
    the tolerance on any CPU; float32 runs are compared in the recipe's equivalence tests."""
    singles = [m.double() for m in models(cls)]
    cohort = stack(singles).train(training)
    x = torch.randn(3, 16, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = cohort(x)
    for k, single in enumerate(singles):
        torch.testing.assert_close(out[k], single.train(training)(x[k]))
    if cls is ResNet and training:  # BatchNorm's running statistics move per member
        for k, single in enumerate(singles):
            torch.testing.assert_close(cohort.tensor("bn.running_mean")[k], single.bn.running_mean)
            torch.testing.assert_close(cohort.tensor("bn.running_var")[k], single.bn.running_var)


@pytest.mark.parametrize("cls", [MLP, Conv2, ResNet])
def test_unstack_writes_a_member_back_into_a_single_model(cls: type) -> None:
    cohort = stack(models(cls))
    with torch.no_grad():
        for p in cohort.parameters():
            p.mul_(2)
    target = initialize(cls(0.25, SHAPE), "he", 99)
    unstack(cohort, 1, target)
    doubled = models(cls)[1]
    for (name, a), b in zip(target.named_parameters(), doubled.parameters(), strict=True):
        assert torch.equal(a, 2 * b), name


def test_mixed_architectures_cannot_stack() -> None:
    with pytest.raises(ValueError, match="one class"):
        stack([MLP(0.25, SHAPE), Conv2(0.25, SHAPE)])


@pytest.mark.parametrize("cls", [MLP, Conv2, ResNet])
def test_member_gradients_equal_their_single_models(cls: type) -> None:
    """The stacked layers' written-out backward gives each member its own model's gradients."""
    singles = [m.double() for m in models(cls)]
    cohort = stack(singles)
    x = torch.randn(3, 16, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    cohort(x).square().sum().backward()
    for k, single in enumerate(singles):
        single(x[k]).square().sum().backward()
        for name, param in single.named_parameters():
            torch.testing.assert_close(cohort.tensor(name).grad[k], param.grad, msg=name)


def test_a_shared_input_gives_the_same_outputs_as_its_copies() -> None:
    """Evaluation on one split for all members (an expanded input) takes one product for the
    first layer; the outputs are those of the gathered path."""
    for cls in (MLP, Conv2, ResNet):
        cohort = stack([m.double() for m in models(cls)]).eval()
        x = torch.randn(16, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        shared = x.unsqueeze(0).expand(3, *x.shape)
        with torch.no_grad():
            torch.testing.assert_close(cohort(shared), cohort(shared.contiguous()))
