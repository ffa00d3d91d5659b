"""A run is trained once however often it is launched: sweeps over the same runs at once share
the work through the runs' locks, and a lock its holder left when it was killed is taken over."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from propensity.storage.lock import HOLDER_FILE, read_holder
from propensity.storage.records import RunRecord
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow
# Long enough (a few seconds of training each) for the two sweeps to overlap.
EPOCHS = 150
RUNS = ["data=digits", "width=0.1", "stop=epochs", f"stop.max_epochs={EPOCHS}", "logger=none",
        "optim.lr=0.05", "progress=false", "init_seed=0,1"]


def _sweep(tmp_path: Path, name: str, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "propensity.train", "-m", *RUNS, *extra, f"results_dir={tmp_path / 'r'}",
         f"hydra.sweep.dir={tmp_path / name}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_sweeps_over_the_same_runs_at_once_train_each_run_once(tmp_path: Path) -> None:
    """A cohort sweep and a single-run sweep of the same two seeds, started together."""
    cohort, single = _sweep(tmp_path, "cohort", "cohort=2"), _sweep(tmp_path, "single", "cohort=1")
    logs = {"cohort": cohort.communicate(timeout=600)[0], "single": single.communicate(timeout=600)[0]}
    assert cohort.returncode == 0 and single.returncode == 0, logs
    found = [RunRecord.load(p) for p in sorted((tmp_path / "r").glob("adhoc/*/record.json"))]
    assert len(found) == 2 and {r.status for r in found} == {"finished"}
    busy = 0
    for record in found:
        trained_by = [n for n, log in logs.items() if re.search(rf"finished {record.run_key} in ", log)]
        assert len(trained_by) == 1, (record.run_key, logs)  # trained once, by one of the sweeps
        [other] = set(logs) - set(trained_by)
        assert f"skip {record.run_key}: " in logs[other]  # the other skipped it: busy, or finished
        busy += f"skip {record.run_key}: being trained by " in logs[other]
        # one writer: the record is that of the engine the writer trained it with, and its
        # history is one run's epochs, each once
        cohort_of_two = "train a cohort of 2" in logs[trained_by[0]]
        assert record.cohort_size == (2 if cohort_of_two else 1)
        history = pd.read_csv(tmp_path / "r" / "adhoc" / record.run_key / "history.csv")
        assert history.epoch.tolist() == list(range(1, EPOCHS + 1))
        assert not (tmp_path / "r" / "adhoc" / record.run_key / HOLDER_FILE).exists()  # released
    assert busy >= 1, logs  # the sweeps did overlap: one found a run being trained by the other
    for log in logs.values():  # each sweep counts every run: trained here, or skipped
        [summary] = [x for x in log.splitlines() if "sweep done:" in x]
        counts = dict((s, int(n)) for n, s in re.findall(r"(\d+) (finished|skipped)", summary))
        assert sum(counts.values()) == 2, summary


def test_a_lock_left_by_a_sigkilled_run_is_taken_over_and_the_run_resumes(tmp_path: Path) -> None:
    args = [arg for arg in RUNS if not arg.startswith("init_seed")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "propensity.train", *args,
                                f"results_dir={tmp_path / 'r'}"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not list((tmp_path / "r").glob("adhoc/*/checkpoints/last.ckpt")):
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    [run_dir] = (tmp_path / "r" / "adhoc").iterdir()
    left = read_holder(run_dir)
    assert left is not None and left.pid == process.pid  # the killed holder never released it

    again = run_cli(*args, f"results_dir={tmp_path / 'r'}", cwd=tmp_path)
    log = again.stdout + again.stderr
    assert again.returncode == 0, log[-2000:]
    assert f"take over {run_dir.name}: its lock was left by {left}" in log
    assert f"resume {run_dir.name} from " in log
    record = RunRecord.load(run_dir / "record.json")
    assert record.status == "finished"
    assert pd.read_csv(run_dir / "history.csv").epoch.tolist() == list(range(1, EPOCHS + 1))
