"""A cohort honours every setting a single run honours: the same files and record fields.

The one recipe (`propensity.run.recipe`) trains one member by Lightning and K by the stacked
engine; everything after the fit is the same code. These tests hold it to that: for each
setting below, the members of ``cohort=2`` and ``cohort=3`` sweeps have in their run folders
the files their ``cohort=1`` runs have, the same record fields, the same trajectory and
history columns, and numbers equal within the stated tolerances (the summation order of the
batched kernels is the only difference; see `tests/cohort/test_equivalence.py`). What a
cohort cannot do is refused in one line before training (`test_cohort.py`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from propensity.run.recipe import train, train_cohort
from propensity.storage.records import RunRecord
from tests.conftest import FAST, ROOT, run_directory
from tests.engines.test_loggers import read_offline_run

pytestmark = pytest.mark.slow

# Written by one writer and not part of a run's result: the resumption checkpoint (a cohort's
# lives beside its members) and the lock a run holds while it trains.
NOT_COMPARED = ("checkpoints/", "train.lock")
# Accuracy along a trajectory: a weight at a level's cut-off may swap with its neighbour under
# another summation order, moving a few validation samples (300 on digits, 128 synthetic).
TRAJECTORY_ACC = 0.02
# Losses: float32 accumulation over a few thousand terms per epoch.
LOSS = 1e-4

FULL = ["llc=sgld", "llc.num_chains=2", "llc.num_draws=20", "artifacts.weights=true",
        "artifacts.correctness=true", "artifacts.activations=true",
        "pruning.baselines=[random,global_magnitude,edge_popup]", "pruning.eval_test=true",
        "pruning.edge_popup.densities=[0.5,0.1]", "pruning.edge_popup.epochs=1", "logger=csv"]
CIFAR_SHAPES = ["data=synthetic", "data.input_shape=[3,32,32]", "data.train_size=256",
                "data.val_size=128", "data.test_size=128", "model=conv2"]


def _files(run_dir: Path) -> set[str]:
    return {str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()
            and not any(part in str(p.relative_to(run_dir)) for part in NOT_COMPARED)}


def _members(compose_cfg, tmp_path: Path, name: str, k: int, overrides: list[str]) -> list:
    return [compose_cfg(*overrides, f"init_seed={i}", f"results_dir={tmp_path / name}")
            for i in range(k)]


def assert_same_outputs(single_cfg, member_cfg, one_step: float) -> None:
    """The member's folder holds the single run's files, record fields and table columns, with
    its numbers (effective densities within `one_step` of each other)."""
    single_dir, member_dir = run_directory(single_cfg), run_directory(member_cfg)
    assert _files(member_dir) == _files(single_dir)
    single = json.loads((single_dir / "record.json").read_text())
    member = json.loads((member_dir / "record.json").read_text())
    assert set(member) == set(single)
    assert member["run_key"] == single["run_key"] and member["status"] == single["status"]
    assert single["cohort_size"] == 1 and member["cohort_size"] > 1
    for key in ("effective_density", *(f"ed_by_method.{m}" for m in single.get("ed_by_method") or {})):
        a, b = _field(single, key), _field(member, key)
        if isinstance(a, float):
            assert b == pytest.approx(a, abs=one_step + 1e-9), key
    for key in ("train_loss", "val_loss", "test_loss"):
        if isinstance(single.get(key), float):
            assert member[key] == pytest.approx(single[key], abs=LOSS), key
    for table in ("history.csv", "trajectory.csv"):
        if (single_dir / table).is_file():
            a, b = pd.read_csv(single_dir / table), pd.read_csv(member_dir / table)
            assert list(b.columns) == list(a.columns) and len(b) == len(a), table
    if (single_dir / "trajectory.csv").is_file():
        a, b = pd.read_csv(single_dir / "trajectory.csv"), pd.read_csv(member_dir / "trajectory.csv")
        assert b.method.tolist() == a.method.tolist() and b.density.tolist() == a.density.tolist()
        assert (b.val_acc - a.val_acc).abs().max() <= TRAJECTORY_ACC


def _field(record: dict, dotted: str):
    value = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict):
        value = value.get("effective_density")
    return value


def _compare(compose_cfg, tmp_path: Path, overrides: list[str], sizes=(2,), one_step: float = 0.0):
    singles = _members(compose_cfg, tmp_path, "single", max(sizes), overrides)
    for cfg in singles:
        train(cfg)
    for k in sizes:
        cohort = _members(compose_cfg, tmp_path, f"cohort{k}", k, overrides)
        records = train_cohort(cohort)
        assert [r.cohort_size for r in records] == [k] * k
        for single, member in zip(singles, cohort, strict=False):
            assert_same_outputs(single, member, one_step)
    return singles


def test_every_measurement_on_digits_in_cohorts_of_two_and_three(compose_cfg, tmp_path) -> None:
    """The learning coefficient, each section-5 artifact, every baseline and the test split."""
    singles = _compare(compose_cfg, tmp_path, [*FAST, *FULL], sizes=(2, 3))
    record = RunRecord.load(run_directory(singles[0]) / "record.json")
    assert record.llc_mean is not None and set(record.ed_by_method) == {
        "magnitude", "random", "global_magnitude", "edge_popup"}
    assert {"weights_init.safetensors", "weights_final.safetensors", "correctness.npz"} <= {
        p.name for p in (run_directory(singles[0]) / "artifacts").iterdir()}


def test_every_measurement_on_cifar_shapes(compose_cfg, tmp_path) -> None:
    """Conv-2 on CIFAR-shaped tensors: effective densities may differ by one pruning step."""
    _compare(compose_cfg, tmp_path, [*FAST, *FULL, *CIFAR_SHAPES], one_step=0.02)


@pytest.mark.parametrize(("stop", "mode"), [
    (["stop=epochs", "stop.max_epochs=2"], "relative"),
    (["stop=train_loss", "stop.target=1.5", "stop.max_epochs=4"], "loss"),
    (["stop=val_loss_min", "stop.max_epochs=3"], "absolute"),
])
def test_every_stop_rule_and_threshold_mode(compose_cfg, tmp_path, stop: list[str], mode: str) -> None:
    threshold = ["pruning.threshold=0.5"] if mode == "loss" else []
    _compare(compose_cfg, tmp_path, [*FAST, *stop, f"pruning.threshold_mode={mode}", *threshold])


def test_offline_wandb_and_no_progress(compose_cfg, tmp_path) -> None:
    """Each member is a W&B run of its own, with the single run's config, summary and metrics."""
    singles = _compare(compose_cfg, tmp_path, [*FAST, "logger=wandb", "progress=false"])
    runs = {}
    for name in ("single", "cohort2"):
        for path in (tmp_path / name).glob("wandb/offline-run-*/run-*.wandb"):
            run = read_offline_run(path)
            runs[name, run.run.display_name] = run
    for cfg in singles:
        key = run_directory(cfg).name
        single, member = runs["single", key], runs["cohort2", key]
        assert set(member.summary) == set(single.summary)
        assert {k for row in member.rows for k in row} == {k for row in single.rows for k in row}


@pytest.mark.parametrize("debug", ["fdr", "limit", "overfit"])
def test_each_debug_mode(compose_cfg, tmp_path, debug: str) -> None:
    _compare(compose_cfg, tmp_path, [*FAST, f"debug={debug}"])


def test_a_sigkilled_cohort_resumes_to_the_uninterrupted_cohort(compose_cfg, tmp_path: Path) -> None:
    """SIGKILL at any point of a cohort's training: the rerun resumes from the cohort's
    checkpoint and ends with the uninterrupted cohort's tables, bitwise (same threads: the
    uninterrupted cohort trains in this process, on one thread as the CLI's)."""
    epochs = 30
    args = ["-m", "init_seed=0,1", "cohort=2", "data=digits", "width=1", "stop=epochs",
            f"stop.max_epochs={epochs}", "logger=none", "optim.lr=0.05"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}

    def cli(results: str, *extra: str, wait: bool = True):
        command = [sys.executable, "-m", "propensity.train", *args, f"results_dir={tmp_path / results}",
                   *extra]
        if wait:
            return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=900)
        return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    process = cli("r", wait=False)
    deadline, started = time.time() + 600, False
    while time.time() < deadline and not started:
        time.sleep(0.2)
        started = any(len(pd.read_csv(h)) >= 3 for h in (tmp_path / "r").glob("adhoc/*/history.csv"))
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert started, "the cohort never got going"
    assert list((tmp_path / "r" / "adhoc" / "cohorts").glob("*/last.pt"))

    again = cli("r")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resume the cohort from" in again.stdout + again.stderr
    reference = train_cohort([compose_cfg(*args[3:], f"init_seed={seed}", f"results_dir={tmp_path / 'u'}")
                              for seed in (0, 1)])
    assert [r.status for r in reference] == ["finished", "finished"]
    uninterrupted = sorted((tmp_path / "u" / "adhoc").glob("*/record.json"))
    assert len(uninterrupted) == 2
    for record_path in uninterrupted:
        ours = tmp_path / "r" / "adhoc" / record_path.parent.name
        assert RunRecord.load(ours / "record.json").status == "finished"
        for table in ("history.csv", "trajectory.csv"):
            assert (ours / table).read_text() == (record_path.parent / table).read_text(), table
