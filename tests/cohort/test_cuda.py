"""A cohort on CUDA against its members trained one by one on CUDA (skipped without a GPU).

A cohort of one runs the single model's own kernels (bitwise the single run on the CPU,
`test_equivalence`), so members trained one at a time on the GPU are the single runs there.
TF32 is switched off for the comparison: with it, grouped and plain convolutions round
differently at 1e-3, which says nothing about stacking. Tolerances are the CPU tests'.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from propensity.cohort import MemberData, fit_stack
from propensity.data import SyntheticDataModule
from propensity.engines.stopping import TrainForEpochs
from propensity.measurements import MemberSplits, measure_pruning
from propensity.models import MLP, Conv2, initialize
from propensity.pruning import PruningSettings

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

SHAPE = (3, 16, 16)
LOSS_TOL = {MLP: 1e-5, Conv2: 1e-5}


@pytest.fixture()
def no_tf32() -> Iterator[None]:
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


@pytest.mark.parametrize("cls", [MLP, Conv2])
def test_a_cuda_cohort_trains_and_prunes_as_its_members_alone(cls: type, no_tf32: None) -> None:
    dm = SyntheticDataModule(input_shape=SHAPE, train_size=640, val_size=256, batch_size=64)
    dm.setup()
    cuda = torch.device("cuda")
    members = [MemberData(dm.x_train, dm.y_train, dm.x_val, dm.y_val, seed) for seed in range(3)]
    adam = lambda p: torch.optim.Adam(p, lr=1e-3)  # noqa: E731

    def rules(k: int) -> list[TrainForEpochs]:
        return [TrainForEpochs() for _ in range(k)]

    def models() -> list[torch.nn.Module]:
        return [initialize(cls(0.25, SHAPE), "glorot", seed) for seed in range(3)]

    together = models()
    results = fit_stack(together, members, adam, rules(3), 2, 64, device=cuda)
    alone = models()
    singles = [fit_stack([m], [member], adam, rules(1), 2, 64, device=cuda)[0]
               for m, member in zip(alone, members, strict=True)]
    for ours, ref in zip(results, singles, strict=True):
        for a, b in zip(ours.history, ref.history, strict=True):
            assert abs(a["train_loss"] - b["train_loss"]) <= LOSS_TOL[cls]
            assert abs(a["val_loss"] - b["val_loss"]) <= LOSS_TOL[cls]
    splits = [MemberSplits((dm.x_val.to(cuda), dm.y_val.to(cuda)))] * 3
    settings = PruningSettings(step=0.1)
    one_by_one = [measure_pruning([m.to(cuda)], splits[:1], settings)[0] for m in alone]
    for at_once in (1, 4):
        stacked = measure_pruning([m.to(cuda) for m in together], splits, settings,
                                  levels_at_once=at_once)
        for ours, ref in zip(stacked, one_by_one, strict=True):
            a, b = ours.trajectories[0], ref.trajectories[0]
            assert a.density == b.density
            assert a.val_acc == pytest.approx(b.val_acc, abs=0.02)
