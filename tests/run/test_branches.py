"""Retraining branches of a trained run, end to end through the recipe (docs/retraining.md).

A branch starts from the trained run (level 0 is the run itself, bit for bit), never trains
the dense model again, keeps IMP's masks nested and its removed weights at exactly zero,
resumes a killed IMP to the bits of an uninterrupted one, and a cohort's branches are its
members' single-run branches.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from propensity.config.settings import read_settings
from propensity.engines.lightning import LightningEngine
from propensity.engines.stacked import StackedEngine
from propensity.measurements import measure_test
from propensity.mechanisms.artifacts import WEIGHTS_INIT, artifact_path, load_weights
from propensity.models import initialize
from propensity.pruning.masks import kept_count
from propensity.retrain import initial_state
from propensity.run.branches import IMP_PROGRESS, branch_dir, read_rows
from propensity.run.members import TRAINED, build_model
from propensity.run.recipe import train, train_cohort
from propensity.storage.records import RunRecord
from tests.conftest import FAST, ROOT, run_directory

# Four IMP levels (densities 0.8, 0.64, 0.512, 0.41), a few seconds at width 0.1.
IMP = ["retrain=imp", "retrain.min_density=0.5"]


def _imp_progress(run_dir: Path) -> dict:
    [folder] = (run_dir / "branches").iterdir()
    return torch.load(folder / IMP_PROGRESS, weights_only=True)


def test_imp_starts_from_the_trained_run_and_its_masks_nest(compose_cfg) -> None:
    cfg = compose_cfg(*FAST, *IMP, "artifacts.weights=true")
    record = train(cfg)
    run = read_settings(cfg)
    assert set(record.ed_by_regime) == {"none", "imp", "imp_reinit", "imp_random"}
    rows = read_rows(branch_dir(run))
    zero = rows[rows["level"] == 0]
    assert set(zero["branch"]) == {"imp", "imp_reinit", "imp_random"}
    assert (zero["val_acc"] == record.base_val_acc).all()  # the trained run's own number
    assert (zero["remaining_weights"] == record.total_weights).all()

    data = run.build.data(data_seed=run.data_seed, batch_seed=run.batch_seed)
    data.prepare_data()
    data.setup("fit")
    model = build_model(run, data)
    model.load_state_dict(torch.load(run.run_dir / TRAINED, weights_only=True))
    [(_, accuracy)] = measure_test([model], [(data.x_val, data.y_val)], run.eval_batch_size)
    correct = round(accuracy * len(data.y_val))  # float32 there, a float64 ratio of counts here
    assert correct == round(record.base_val_acc * len(data.y_val))  # the weights the trajectory pruned

    progress = _imp_progress(run.run_dir)
    masks = progress["masks"]
    assert sorted(masks) == [0, 1, 2, 3, 4] and progress["level"] == 4
    for level in range(1, 5):
        for name, mask in masks[level].items():
            assert not (mask & ~masks[level - 1][name]).any(), (level, name)  # nested
            assert int(mask.sum()) == kept_count(mask.numel(), level, 0.2, "remaining")
        imp = rows[(rows["branch"] == "imp") & (rows["level"] == level)]
        assert int(imp["remaining_weights"].iloc[0]) == sum(int(m.sum()) for m in masks[level].values())
    for name, mask in masks[4].items():
        assert (progress["state"][name][~mask] == 0).all()  # removed weights stayed exactly zero

    from propensity.collect import collect

    collected = collect(run.experiment_dir.parent)
    assert len(collected.regime_levels) == len(rows)  # every level row reaches the tables
    assert set(collected.regimes["regime"]) == set(record.ed_by_regime)

    initial = load_weights(artifact_path(run.run_dir, WEIGHTS_INIT))
    replayed = initial_state(initialize(build_model(run, data), run.init, 7), run.init, run.init_seed)
    for name, weight in initial.items():
        assert torch.equal(replayed[name], weight), name  # rewinding to 0: the run's own start


def test_a_branch_asked_again_trains_nothing_and_a_new_one_only_itself(compose_cfg, monkeypatch) -> None:
    train(compose_cfg(*FAST, *IMP))
    run_dir = run_directory(compose_cfg(*FAST))
    history = (run_dir / "history.csv").read_text()
    levels = read_rows(branch_dir(read_settings(compose_cfg(*FAST, *IMP))))

    def no_fit(self, members, chunk):
        raise AssertionError("a finished branch was trained again")

    with monkeypatch.context() as patched:
        patched.setattr(LightningEngine, "fit", no_fit)
        patched.setattr(StackedEngine, "fit", no_fit)
        again = train(compose_cfg(*FAST, *IMP))
    assert again.status == "finished"
    pd.testing.assert_frame_equal(read_rows(branch_dir(read_settings(compose_cfg(*FAST, *IMP)))), levels)

    fits = []
    original = LightningEngine.fit

    def counted(self, members, chunk):
        fits.append([m.mask is not None for m in members])
        return original(self, members, chunk)

    monkeypatch.setattr(LightningEngine, "fit", counted)
    record = train(compose_cfg(*FAST, "retrain=finetune", "retrain.max_epochs=1"))
    assert fits and all(all(masked) for masked in fits)  # only masked fine-tunes, no dense fit
    assert (run_dir / "history.csv").read_text() == history
    assert {"none", "imp", "finetune"} <= set(record.ed_by_regime)
    assert record.ed_by_regime["finetune"]["levels_measured"] == len(fits) + 1


def test_each_level_is_logged_in_the_branchs_own_log(compose_cfg) -> None:
    cfg = compose_cfg(*[o for o in FAST if o != "logger=none"], "logger=csv", *IMP, "retrain.controls=[]")
    train(cfg)
    run_dir = run_directory(cfg)
    dense = pd.read_csv(run_dir / "lightning_logs" / "metrics.csv")
    assert "train/loss" in dense.columns and not any(c.startswith("retrain/") for c in dense.columns)
    logged = pd.read_csv(branch_dir(read_settings(cfg)) / "lightning_logs" / "metrics.csv")
    levels = logged.dropna(subset=["retrain/imp/val_acc"])
    assert sorted(levels["step"].astype(int)) == [0, 1, 2, 3, 4]
    rows = read_rows(branch_dir(read_settings(cfg)))
    logged_acc = levels.sort_values("step")["retrain/imp/val_acc"].to_numpy()
    assert logged_acc == pytest.approx(rows["val_acc"].to_numpy())


def test_a_regime_that_cannot_run_is_refused_before_training(compose_cfg) -> None:
    from propensity.run.members import BranchError

    cfg = compose_cfg(*FAST, "retrain=finetune", "pruning.method=snip")
    with pytest.raises(BranchError, match=r"retrain=finetune: pruning\.method=snip"):
        train(cfg)
    assert not run_directory(cfg).exists()


def test_a_sweep_with_a_branch_that_cannot_run_is_refused_before_any_job(compose_cfg) -> None:
    from propensity.run.members import sweep_problems

    jobs = [compose_cfg(*FAST, "retrain=finetune", "pruning.method=snip", f"width={w}") for w in (0.1, 0.5)]
    [line] = sweep_problems(jobs)
    assert line.startswith("retrain=finetune: pruning.method=snip gives no mask")
    assert line.endswith("(2 of 2 jobs)")


def test_late_rewinding_keeps_the_dense_runs_weights_at_k_and_a_run_without_them_is_refused(
        compose_cfg) -> None:
    from propensity.retrain import load_rewind_state
    from propensity.run.members import BranchError

    record = train(compose_cfg(*FAST, *IMP, "retrain.rewind_iteration=5", "retrain.controls=[]"))
    run_dir = run_directory(compose_cfg(*FAST))
    assert load_rewind_state(run_dir, 5) is not None and "imp" in record.ed_by_regime

    other = compose_cfg(*FAST, "init_seed=1")
    train(other)
    late = compose_cfg(*FAST, "init_seed=1", *IMP, "retrain.rewind_iteration=5")
    with pytest.raises(BranchError, match=r"retrain\.rewind_iteration=5: run .* finished without"):
        train(late)
    assert not (run_directory(other) / "branches").exists()


def test_imp_on_digits_retrains_back_what_one_shot_pruning_loses(compose_cfg) -> None:
    """The MLP at width 1 on digits, the default recipe (SGD to train loss 0.2): at about 20%
    density the IMP-retrained network is at least as accurate as the one-shot pruned one at
    the nearest grid density above it (more weights)."""
    cfg = compose_cfg("data=digits", "width=1", "logger=none", "retrain=imp", "retrain.controls=[]",
                      "retrain.min_density=0.21")
    record = train(cfg)
    rows = read_rows(branch_dir(read_settings(cfg)))
    last = rows[rows["level"] == rows["level"].max()].iloc[0]
    assert int(last["level"]) == 7 and last["density"] == pytest.approx(0.8 ** 7, abs=1e-3)
    one_shot = pd.read_csv(run_directory(cfg) / "trajectory.csv")
    one_shot = one_shot[(one_shot["method"] == "magnitude") & (one_shot["density"] >= last["density"])]
    nearest = one_shot.iloc[-1]
    assert last["val_acc"] >= nearest["val_acc"], (last["val_acc"], nearest["density"], nearest["val_acc"])
    assert record.ed_by_regime["imp"]["effective_density"] <= record.ed_by_regime["none"]["effective_density"]


@pytest.mark.slow
def test_a_cohorts_branches_are_its_members_single_run_branches(compose_cfg, tmp_path) -> None:
    """A cohort retrains all its members' IMP and control fits of a level as one stack; each
    member's branch has its single run's levels, counts exactly, accuracies within a few
    validation samples (the trained weights differ in the last bits between the engines, see
    `tests/run/test_parity.py`)."""
    overrides = [*FAST, *IMP, "retrain.controls=[reinit]"]
    singles = [compose_cfg(*overrides, f"init_seed={i}", f"results_dir={tmp_path / 'single'}")
               for i in range(2)]
    members = [compose_cfg(*overrides, f"init_seed={i}", "cohort=2", f"results_dir={tmp_path / 'cohort'}")
               for i in range(2)]
    for cfg in singles:
        train(cfg)
    stacked = []
    original = StackedEngine.fit

    def counted(self, fitted, chunk):
        stacked.append(len(fitted))
        return original(self, fitted, chunk)

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(StackedEngine, "fit", counted)
        train_cohort(members)
    assert stacked[1:] == [4] * 4  # after the dense cohort, each level: both members' imp and reinit
    for single, member in zip(singles, members, strict=True):
        a = read_rows(branch_dir(read_settings(single)))
        b = read_rows(branch_dir(read_settings(member)))
        assert list(a["branch_key"]) == list(b["branch_key"]) and list(a["level"]) == list(b["level"])
        assert list(a["remaining_weights"]) == list(b["remaining_weights"])
        for column in ("val_acc", "train_acc"):
            assert b[column].to_numpy() == pytest.approx(a[column].to_numpy(), abs=0.03), column


@pytest.mark.slow
def test_a_sigkilled_imp_resumes_to_the_uninterrupted_branch(tmp_path: Path) -> None:
    """SIGKILL in the middle of an IMP level: the rerun skips the trained run, resumes the
    level from its checkpoint and ends with the uninterrupted branch's rows and state, bitwise
    (same thread count)."""
    args = ["data=digits", "width=0.5", "stop=epochs", "stop.max_epochs=8", "logger=none", "optim.lr=0.05",
            "retrain=imp", "retrain.min_density=0.7", "retrain.controls=[]"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

    def cli(results: str, wait: bool = True):
        command = [sys.executable, "-m", "propensity.train", *args, f"results_dir={tmp_path / results}"]
        if wait:
            return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    process = cli("r", wait=False)
    deadline, midway = time.time() + 600, False
    while time.time() < deadline and not midway and process.poll() is None:
        time.sleep(0.1)
        histories = (tmp_path / "r").glob("adhoc/*/branches/*/level_2/*/history.csv")
        midway = any(len(pd.read_csv(h)) >= 3 for h in histories)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert midway, "the kill came too late: level 2 never reached its third epoch"

    again = cli("r")
    assert again.returncode == 0, again.stderr[-2000:]
    said = again.stdout + again.stderr
    assert "skip" in said and "level2 from" in said  # the trained run skipped, level 2 resumed
    reference = cli("u")
    assert reference.returncode == 0, reference.stderr[-2000:]
    [ours] = (tmp_path / "r" / "adhoc").glob("*/record.json")
    [theirs] = (tmp_path / "u" / "adhoc").glob("*/record.json")
    assert RunRecord.load(ours).status == "finished"
    [a] = (ours.parent / "branches").iterdir()
    [b] = (theirs.parent / "branches").iterdir()
    assert (a / "levels.csv").read_text() == (b / "levels.csv").read_text()
    state_a, state_b = _imp_progress(ours.parent), _imp_progress(theirs.parent)
    assert state_a["level"] == state_b["level"] == 2
    for name, tensor in state_b["state"].items():
        assert torch.equal(state_a["state"][name], tensor), name
