"""The small ViT, a fourth family: its width rule, weight counts, and runs on its tasks' shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from propensity.cohort import stack
from propensity.cohort.functional import FunctionalStack, stack_problem
from propensity.mechanisms.artifacts import activation_statistics
from propensity.models import ViT, initialize
from propensity.models.vit import vit_dims
from propensity.pruning import prunable_weights, total_weights
from propensity.run.recipe import train, train_cohort

MNIST, CIFAR = (1, 28, 28), (3, 32, 32)


@pytest.mark.parametrize(("width", "dims"), [(0.1, (1, 16, 64)), (0.5, (2, 32, 128)), (1, (4, 64, 256)),
                                             (2, (8, 128, 512)), (5, (20, 320, 1280))])
def test_width_scales_heads_of_sixteen_dimensions(width: float, dims: tuple[int, int, int]) -> None:
    assert vit_dims(width) == dims


def weights(width: float, shape: tuple[int, int, int], depth: int = 4, patch: int = 4) -> int:
    """The count by hand: patch convolution, per block qkv + proj + fc1 + fc2, head."""
    _, d, m = vit_dims(width)
    return shape[0] * patch * patch * d + depth * (3 * d * d + d * d + 2 * d * m) + d * 10


@pytest.mark.parametrize("shape", [MNIST, CIFAR])
@pytest.mark.parametrize("width", [0.1, 0.5, 1, 2])
def test_every_matrix_is_a_prunable_weight(width: float, shape: tuple[int, int, int]) -> None:
    model = ViT(width, shape)
    assert total_weights(model) == weights(width, shape)
    names = [n for n, _ in prunable_weights(model)]
    assert names[0] == "patch.weight" and names[-1] == "proj.weight" and "blocks.0.attn.qkv.weight" in names
    assert model(torch.zeros(2, *shape)).shape == (2, 10)


def test_initial_weights_depend_on_the_init_seed_alone() -> None:
    torch.manual_seed(0)
    a = initialize(ViT(0.5, MNIST), "he", 3)
    torch.manual_seed(1)
    b = initialize(ViT(0.5, MNIST), "he", 3)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_a_patch_size_that_does_not_divide_the_image_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^model.patch_size=5 does not divide the 28 x 28 images"):
        ViT(1, MNIST, patch_size=5)


def test_vit_stacks_generically_and_members_compute_their_models() -> None:
    """In float64, so only the batched kernels' summation order differs (~1e-16 relative)."""
    singles = [initialize(ViT(0.5, MNIST).double(), "glorot", s) for s in (0, 1)]
    assert stack_problem(singles[0], MNIST) is None
    cohort = stack(singles)
    assert isinstance(cohort, FunctionalStack)
    x = torch.randn(2, 3, *MNIST, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cohort(x).square().sum().backward()
    for k, single in enumerate(singles):
        single(x[k]).square().sum().backward()
        for name, param in single.named_parameters():
            torch.testing.assert_close(cohort.tensor(name).grad[k], param.grad, msg=name)


def test_unit_statistics_per_block_mlp() -> None:
    model = ViT(0.5, CIFAR)
    stats = activation_statistics(model, torch.randn(12, *CIFAR), torch.arange(12) % 10, 10)
    assert list(stats) == [f"blocks.{i}.mlp" for i in range(4)]
    assert stats["blocks.0.mlp"]["hoyer"].shape == (128,)


TINY = ["width=0.1", "stop.max_epochs=1", "logger=none", "data=synthetic", "data.train_size=128",
        "data.val_size=32", "data.test_size=32", "pruning.step=0.25", "model.depth=1"]


@pytest.mark.parametrize("shape", [MNIST, CIFAR])
def test_vit_adam_trains_on_data_of_its_tasks_shapes(compose_cfg, shape, tmp_path: Path) -> None:
    cfg = compose_cfg("experiment=vit_adam", f"data.input_shape=[{','.join(map(str, shape))}]", *TINY)
    assert cfg.model.name == "vit" and cfg.cohort == 10
    record = train(cfg)
    assert record.run_key.startswith("vit-w0.1-adam-glorot-") and record.epochs_trained == 1
    assert record.status in ("finished", "max_epochs_reached", "untrained"), record.error
    assert record.total_weights == weights(0.1, shape, depth=1)


def test_vit_cohort_of_two_trains_through_the_generic_stack(compose_cfg) -> None:
    cfgs = [compose_cfg("experiment=vit_adam", *TINY, "data.input_shape=[1,8,8]", "model.patch_size=2",
                        f"init_seed={seed}") for seed in (0, 1)]
    records = train_cohort(cfgs)
    assert [r.cohort_size for r in records] == [2, 2]
    assert all(r.status in ("finished", "max_epochs_reached", "untrained") for r in records)
