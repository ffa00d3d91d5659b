"""The retraining pieces on CUDA give the CPU's masks and states (skipped without a GPU).

Masks come from a stable sort of float64 magnitudes, so they do not depend on the device;
states cross devices by copy, bit for bit; removed weights stay +0.0 through Adam on CUDA.
"""

from __future__ import annotations

import pytest
import torch

from propensity.pruning.masked_training import keep_pruned_at_zero
from propensity.retrain import (
    CaptureAt,
    IMPSettings,
    copy_state,
    dense_masks,
    imp_level_starts,
    imp_masks,
    rewind,
)
from tests.retrain.conftest import initialized, mlp, states_bitwise_equal, train

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("allocation", ["layerwise", "global"])
def test_masks_on_cuda_are_the_cpus(allocation: str) -> None:
    trained = train(initialized(), 10)
    cpu = imp_masks(trained, dense_masks(trained), 3, allocation=allocation)
    gpu_model = trained.to("cuda")
    gpu = imp_masks(gpu_model, dense_masks(gpu_model), 3, allocation=allocation)
    assert all(gpu[n].is_cuda and torch.equal(gpu[n].cpu(), cpu[n]) for n in cpu)


def test_rewind_and_masked_adam_on_cuda() -> None:
    capture = CaptureAt(2)
    trained = train(initialized(), 8, callback=capture)
    masks = imp_masks(trained, dense_masks(trained), 2)
    model = rewind(mlp().to("cuda"), capture.state, {n: m.to("cuda") for n, m in masks.items()})
    assert states_bitwise_equal(copy_state(model), copy_state(rewind(mlp(), capture.state, masks)))
    [start] = imp_level_starts(mlp(), masks, capture.state, IMPSettings(controls=()),
                               scheme="glorot", init_seed=0)
    assert states_bitwise_equal(start.state, copy_state(model))
    parameters = dict(model.named_parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    keep_pruned_at_zero(optimizer, [(parameters[n], m.to("cuda")) for n, m in masks.items()])
    x, y = torch.randn(32, 1, 4, 4, device="cuda"), torch.randint(0, 3, (32,), device="cuda")
    for _ in range(10):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        for name, mask in masks.items():
            assert (parameters[name].detach()[~mask.to("cuda")].view(torch.int32) == 0).all()
