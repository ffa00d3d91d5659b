"""Both engines save a member's state at its rewind iteration k, during the dense run: the
model before the first step (k = 0) or after exactly k optimiser steps, bit for bit on the
CPU, written once to ``rewind/iteration_<k>.pt``, and rewritten by no resumed run.

Digits at width 0.1 has 1,197 training images in minibatches of 64: 19 optimiser steps an
epoch. The cohort's states are compared with the single runs' within the MLP's weight
tolerance of the cohort equivalence tests (`tests/cohort/test_equivalence.py`, where the
measured drift after 2-4 epochs is 1e-6); here they have taken at most 24 steps, and on the
2-core AVX-512 Xeon they came out bitwise equal (drift 0), which other CPUs need not repeat.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from propensity.config.settings import read_settings
from propensity.engines.fitting import FitMember
from propensity.engines.lightning import LightningEngine
from propensity.engines.stacked import StackedEngine, cohort_checkpoint
from propensity.engines.stopping import Verdict
from propensity.retrain.rewind import copy_state, load_rewind_state, masked_state, rewind_state_path
from propensity.storage.checkpoints import Checkpoint
from tests.cohort.test_equivalence import WEIGHT_TOL
from tests.conftest import FAST
from tests.engines.test_masked_fit import chunk, members
from tests.retrain.conftest import states_bitwise_equal

Compose = Callable[..., DictConfig]
STEPS_PER_EPOCH = 19  # ceil(1197 / 64)


def member(compose_cfg: Compose, *overrides: str, rewind_at: int | None, masked: bool = False,
           init_seed: int = 0) -> FitMember:
    run = read_settings(compose_cfg(*FAST, f"init_seed={init_seed}", "resume=false", *overrides))
    [fit] = members([run], masked=masked)
    return dataclasses.replace(fit, rewind_at=rewind_at)


def fit_single(fit: FitMember) -> None:
    [result] = LightningEngine().fit([fit], chunk([fit]))
    assert result.status == "running"


def saved(fit: FitMember) -> dict[str, torch.Tensor] | None:
    assert fit.rewind_at is not None
    return load_rewind_state(fit.run.run_dir, fit.rewind_at)


def saved_path(fit: FitMember) -> Path:
    assert fit.rewind_at is not None
    return rewind_state_path(fit.run.run_dir, fit.rewind_at)


def test_the_lightning_engine_saves_the_initial_weights_at_iteration_0(compose_cfg: Compose) -> None:
    fit = member(compose_cfg, rewind_at=0)
    initial = copy_state(fit.model)
    fit_single(fit)
    state = saved(fit)
    assert state is not None and states_bitwise_equal(state, initial)
    assert not states_bitwise_equal(state, copy_state(fit.model))  # it trained on afterwards
    assert rewind_state_path(fit.run.run_dir, 0) == fit.run.run_dir / "rewind" / "iteration_0.pt"


def test_the_state_after_one_epoch_of_steps_is_the_run_trained_one_epoch(compose_cfg: Compose) -> None:
    fit = member(compose_cfg, "name=capture", rewind_at=STEPS_PER_EPOCH)
    fit_single(fit)
    one_epoch = member(compose_cfg, "name=one_epoch", "stop.max_epochs=1", rewind_at=None)
    fit_single(one_epoch)
    state = saved(fit)
    assert state is not None and states_bitwise_equal(state, copy_state(one_epoch.model))
    assert not states_bitwise_equal(state, copy_state(fit.model))


def test_a_state_mid_epoch_is_the_run_stopped_after_as_many_minibatches(compose_cfg: Compose) -> None:
    """Captured inside a whole-epoch training step (``data.whole_epoch=true``), compared with
    the run that Lightning stops after 7 minibatches of its first epoch, one step each."""
    fit = member(compose_cfg, "name=capture", rewind_at=7)
    assert fit.data.whole_epoch
    fit_single(fit)
    seven = member(compose_cfg, "name=seven", "stop.max_epochs=1", "data.whole_epoch=false",
                   "+trainer.limit_train_batches=7", rewind_at=None)
    fit_single(seven)
    state = saved(fit)
    assert state is not None and states_bitwise_equal(state, copy_state(seven.model))
    assert rewind_state_path(fit.run.run_dir, 7).is_file()
    assert sorted(p.name for p in (fit.run.run_dir / "rewind").iterdir()) == ["iteration_7.pt"]


def test_a_member_without_a_rewind_iteration_saves_none(compose_cfg: Compose) -> None:
    fit = member(compose_cfg, rewind_at=None)
    fit_single(fit)
    assert not (fit.run.run_dir / "rewind").exists()


def test_a_bad_rewind_iteration_is_refused(compose_cfg: Compose) -> None:
    with pytest.raises(ValueError, match=r"rewind_iteration=-1: must be an integer >= 0"):
        member(compose_cfg, rewind_at=-1)


def stop_after_first_epoch(fit: FitMember) -> None:
    fit.rule.after_epoch = lambda epoch, metrics, max_epochs: Verdict(stop=True)  # type: ignore[method-assign]


def assert_close_states(ours: Mapping[str, torch.Tensor], single: Mapping[str, torch.Tensor]) -> None:
    assert ours.keys() == single.keys()
    for name, weight in single.items():  # relative, as there; a zero tensor (biases at 0) exactly
        difference = float((ours[name] - weight).norm())
        drift = difference / float(weight.norm()) if difference else 0.0
        assert drift <= WEIGHT_TOL["mlp"], (name, drift)


def test_each_cohort_member_saves_its_single_runs_state(compose_cfg: Compose) -> None:
    """Four masked members: one leaves the stack after epoch 1, before its iteration (25)
    comes; the others save theirs at 7 (first epoch), 24 (second epoch, after the stack
    shrank) and 0. Each equals its single run's (k = 0: bitwise), removed weights at +0.0."""
    iterations = [25, 7, 24, 0]

    def make(name: str) -> list[FitMember]:
        fits = [member(compose_cfg, f"name={name}", rewind_at=k, masked=True, init_seed=seed)
                for seed, k in enumerate(iterations)]
        stop_after_first_epoch(fits[0])
        return fits

    singles = make("single")
    assert singles[3].mask is not None
    initial = masked_state(copy_state(singles[3].model), singles[3].mask)  # removed weights at 0
    for single in singles:
        fit_single(single)
    cohort = make("cohort")
    results = StackedEngine().fit(cohort, chunk(cohort))
    assert [r.epochs_trained for r in results] == [1, 2, 2, 2]
    assert saved(singles[0]) is None and saved(cohort[0]) is None
    for single, ours in zip(singles[1:], cohort[1:], strict=True):
        state, reference = saved(ours), saved(single)
        assert state is not None and reference is not None
        assert_close_states(state, reference)
        assert ours.mask is not None
        for name, kept in ours.mask.items():
            for removed in (state[name][~kept], reference[name][~kept]):
                assert removed.numel() and (removed.view(torch.int32) == 0).all()  # +0.0 exactly
    assert states_bitwise_equal(saved(cohort[3]), initial)
    assert states_bitwise_equal(saved(singles[3]), initial)
    assert not states_bitwise_equal(saved(cohort[2]), copy_state(cohort[2].model))


class KilledError(Exception):
    """Stands for a SIGKILL: the run stops where it is, its last epoch checkpoint on disk."""


def kill_at_end_of(fit: FitMember, epoch: int) -> None:
    """The run dies after `epoch`'s steps, before that epoch's checkpoint (which is saved after
    the stop rule is asked, by both engines)."""
    ask = fit.rule.after_epoch

    def after_epoch(e: int, metrics: Mapping[str, float], max_epochs: int) -> Verdict:
        if e == epoch:
            raise KilledError(f"killed after epoch {e}")
        return ask(e, metrics, max_epochs)

    fit.rule.after_epoch = after_epoch  # type: ignore[method-assign]


def fit_with(engine: str, fits: Sequence[FitMember]) -> None:
    if engine == "lightning":
        for fit in fits:
            fit_single(fit)
    else:
        StackedEngine().fit(fits, chunk(list(fits)))


@pytest.mark.parametrize("engine", ["lightning", "stacked"])
@pytest.mark.parametrize("lost", [False, True], ids=["saved-before-the-kill", "lost-with-the-kill"])
def test_a_resumed_run_leaves_or_recaptures_the_state_bitwise(
    compose_cfg: Compose, engine: str, lost: bool
) -> None:
    """KilledError after epoch 2, resumed from epoch 1's checkpoint: the states at 19 (the last
    step of epoch 1) and 24 (in epoch 2) were saved before the kill and stay untouched, or,
    deleted (a kill before they were written), are saved again on resumption, at 19 before
    the first resumed step. Either way they are the uninterrupted run's, bit for bit."""
    iterations = {0: STEPS_PER_EPOCH, 1: 24}  # by init seed

    def make(name: str) -> list[list[FitMember]]:
        """The runs as the engine fits them: one by one, or as one cohort."""
        fits = [member(compose_cfg, f"name={name}", "stop.max_epochs=3", "resume=true",
                       rewind_at=k, init_seed=seed) for seed, k in iterations.items()]
        return [[fit] for fit in fits] if engine == "lightning" else [fits]

    uninterrupted = make("uninterrupted")
    for group in uninterrupted:
        fit_with(engine, group)
    for group in make("killed"):
        for fit in group:
            kill_at_end_of(fit, 2)
        with pytest.raises(KilledError):
            fit_with(engine, group)
        assert last_epoch(engine, group) == 1
    resumed = make("killed")
    paths = [saved_path(fit) for group in resumed for fit in group]
    assert all(path.is_file() for path in paths)
    written = [(path.stat().st_ino, path.stat().st_mtime_ns) for path in paths]
    if lost:
        for path in paths:
            path.unlink()
    for group in resumed:
        fit_with(engine, group)
    pairs = zip([f for g in resumed for f in g], [f for g in uninterrupted for f in g], strict=True)
    for fit, reference in pairs:
        state, expected = saved(fit), saved(reference)
        assert state is not None and expected is not None
        assert states_bitwise_equal(state, expected)
        assert states_bitwise_equal(copy_state(fit.model), copy_state(reference.model))
    if not lost:
        assert [(p.stat().st_ino, p.stat().st_mtime_ns) for p in paths] == written


def last_epoch(engine: str, fits: Sequence[FitMember]) -> int:
    """The epoch of the checkpoint a resumed fit of `fits` starts from."""
    if engine == "lightning":
        [fit] = fits
        path = Checkpoint.of_run(fit.run.run_dir, fit.run.run_key).readable()
        assert path is not None
        return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"]) + 1
    state = cohort_checkpoint([fit.run for fit in fits]).load()
    assert state is not None
    return int(state["epoch"])


@pytest.mark.parametrize("engine", ["lightning", "stacked"])
def test_a_run_resumed_past_its_rewind_iteration_says_it_cannot_save_it(
    compose_cfg: Compose, engine: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A run that trained without a rewind iteration, resumed after epoch 1 with one inside
    epoch 1: the state is gone; it says so, and writes nothing."""

    def make(rewind_at: int | None) -> list[FitMember]:
        return [member(compose_cfg, "stop.max_epochs=3", "resume=true", rewind_at=rewind_at,
                       init_seed=seed) for seed in range(1 if engine == "lightning" else 2)]

    killed = make(None)
    for fit in killed:
        kill_at_end_of(fit, 2)
    with pytest.raises(KilledError):
        fit_with(engine, killed)
    resumed = make(5)
    with caplog.at_level("WARNING", logger="propensity"):
        fit_with(engine, resumed)
    for fit in resumed:
        assert saved(fit) is None
        assert f"{fit.run.run_dir} resumes at iteration {STEPS_PER_EPOCH}, past its rewind iteration 5" \
            in caplog.text
