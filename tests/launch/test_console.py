"""A sweep prints the project's own lines only: Lightning's banners and known deprecation
hints are silenced in every job, in joblib and submitit workers as in the parent; W&B's own
lines go to its log files; lines of jobs running beside each other say whose they are."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from propensity.launch.console import quiet_third_party
from tests.conftest import ROOT, run_cli

FAST = ["data=digits", "stop=epochs", "stop.max_epochs=2", "logger=none", "optim.lr=0.05"]
BOILERPLATE = ("GPU available", "TPU available", "litlogger", "litmodels", "LeafSpec",
               "log_every_n_steps", "anonymous setting", "Warning", "warn(")


def _foreign(text: str) -> list[str]:
    """Lines that are not the project's: neither its log lines nor its pruning progress bar."""
    return [line for line in text.splitlines()
            if line.strip() and "[propensity]" not in line and not line.startswith("pruning (")]


def test_known_warnings_are_filtered_and_others_kept() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party()
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", DeprecationWarning,
                      stacklevel=1)
        warnings.warn("something the user must see", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something the user must see"]


@pytest.mark.slow
def test_parallel_sweep_prints_only_the_projects_lines(tmp_path: Path) -> None:
    done = run_cli("-m", "launcher=gpus", "width=0.1,0.5", f"results_dir={tmp_path / 'r'}",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _foreign(done.stderr) == []
    for phrase in BOILERPLATE:
        assert phrase not in done.stdout + done.stderr, phrase
    named = re.findall(r"epoch 2/2 \((mlp-w[\d.]+)-sgd-glorot-i0-d0-[0-9a-f]{10}\): train loss", done.stdout)
    assert sorted(named) == ["mlp-w0.1", "mlp-w0.5"], done.stdout  # each epoch line names its run
    assert "1/2 jobs done" in done.stdout and "2/2 jobs done, ~0s left" in done.stdout


@pytest.mark.slow
def test_a_cohort_sweep_shows_seeds_total_and_time_left(tmp_path: Path) -> None:
    done = run_cli("-m", "cohort=2", "init_seed=0,1", "width=0.1,0.5", f"results_dir={tmp_path / 'r'}",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cohort_members" not in done.stdout + done.stderr
    launched = [line for line in done.stdout.splitlines() if re.search(r"\t#\d : ", line)]
    assert len(launched) == 2 and all(line.endswith("init_seed=0,1 (a cohort of 2)") for line in launched)
    assert re.search(r"job 0 finished \(2 runs\): 1/2 jobs done, ~\S+ left", done.stdout), done.stdout
    assert re.search(r"job 1 finished \(2 runs\): 2/2 jobs done, ~0s left", done.stdout), done.stdout


@pytest.mark.slow
def test_a_wandb_run_leaves_stderr_empty_and_says_where_its_run_is(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SILENT"}
    env.update(PYTHONPATH=str(ROOT), WANDB_MODE="offline")
    done = subprocess.run([sys.executable, "-m", "propensity.train", "logger=wandb",
                           f"results_dir={tmp_path / 'r'}", "data=digits", "width=0.1", "stop=epochs",
                           "stop.max_epochs=2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    [line] = [line for line in done.stdout.splitlines() if "W&B" in line]
    [run] = (tmp_path / "r" / "wandb").glob("offline-run-*")
    assert line.endswith(f"offline in {run} (upload: wandb sync {run})")
    assert (run / "logs" / "debug.log").is_file()  # where W&B's own lines went
