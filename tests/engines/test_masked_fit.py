"""One engine interface: each engine's `fit` takes a chunk of members, each with an optional
mask, and gives one result per member. A masked fit keeps every removed weight at exactly
zero through every step on both engines, and a cohort's member trains as its single run."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from omegaconf import DictConfig

from propensity.config.settings import RunSettings, read_settings
from propensity.engines.epoch_report import EpochReport
from propensity.engines.fitting import Chunk, FitMember
from propensity.engines.lightning import LightningEngine
from propensity.engines.limits import batch_limits
from propensity.engines.stacked import StackedEngine
from propensity.models import initialize
from propensity.pruning import prunable_weights
from tests.conftest import FAST

Compose = Callable[..., DictConfig]
# A member and its single run differ only in the order float32 sums are taken: well within
# this after two epochs of digits at width 0.1 (weights of order 0.1).
CLOSE = 1e-4


def members(runs: list[RunSettings], masked: bool) -> list[FitMember]:
    out = []
    for run in runs:
        data = run.build.data(data_seed=run.data_seed, batch_seed=run.batch_seed)
        data.prepare_data()
        data.setup("fit")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(run.init_seed)
            model = run.build.model(input_shape=data.input_shape, num_classes=data.num_classes)
        initialize(model, run.init, run.init_seed)
        generator = torch.Generator().manual_seed(100 + run.init_seed)
        mask = {name: torch.rand(weight.shape, generator=generator) < 0.5
                for name, weight in prunable_weights(model)} if masked else None
        out.append(FitMember(run=run, model=model, data=data, rule=run.build.stop_rule(), loggers=[],
                             mask=mask))
    return out


def chunk(fitted: list[FitMember]) -> Chunk:
    run = fitted[0].run
    report = EpochReport([m.run.run_dir for m in fitted], [[] for _ in fitted], run.max_epochs,
                         progress=False)
    return Chunk(optimizer=run.build.optimizer(), max_epochs=run.max_epochs, report=report,
                 limits=batch_limits(run.trainer), val_batch=run.eval_batch_size)


@pytest.mark.parametrize("optim", ["sgd", "adam"])
def test_a_masked_fit_keeps_removed_weights_at_zero_and_a_cohort_matches_its_single_runs(
    compose_cfg: Compose, optim: str
) -> None:
    runs = [read_settings(compose_cfg(*FAST, f"optim={optim}", "optim.lr=0.01", f"init_seed={i}",
                                      "+optim.weight_decay=0.01", "resume=false"))
            for i in (0, 1)]
    singles = [members([run], masked=True)[0] for run in runs]
    for single in singles:
        [result] = LightningEngine().fit([single], chunk([single]))
        assert result.epochs_trained == 2 and result.status == "running"
    cohort = members(runs, masked=True)
    results = StackedEngine().fit(cohort, chunk(cohort))
    assert [r.epochs_trained for r in results] == [2, 2]
    for single, member in zip(singles, cohort, strict=True):
        assert single.mask is not None and member.mask is not None
        for (name, a), (_, b) in zip(prunable_weights(single.model), prunable_weights(member.model),
                                     strict=True):
            removed = ~single.mask[name]
            assert removed.any() and (~member.mask[name] == removed).all()
            for weight in (a, b):  # exactly +0.0, not merely small
                assert (weight.detach()[removed] == 0).all()
                assert not torch.signbit(weight.detach()[removed]).any()
            assert torch.allclose(a.detach(), b.detach(), atol=CLOSE, rtol=0), name
            assert (a.detach()[~removed] != 0).any()  # the kept weights trained


def test_an_unmasked_fit_moves_the_weights_a_mask_would_remove(compose_cfg: Compose) -> None:
    run = read_settings(compose_cfg(*FAST, "resume=false"))
    [dense] = members([run], masked=False)
    [masked] = members([run], masked=True)
    LightningEngine().fit([dense], chunk([dense]))
    assert masked.mask is not None
    name, weight = prunable_weights(dense.model)[0]
    assert (weight.detach()[~masked.mask[name]] != 0).all()
