"""A sweep prints the project's own lines only: Lightning's banners and known deprecation
hints are silenced in every job, in joblib and submitit workers as in the parent."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from propensity.launch.console import quiet_third_party
from tests.conftest import run_cli

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
    assert done.stdout.count("epoch 2/2: train loss") == 2
    assert "1/2 jobs done" in done.stdout and "2/2 jobs done, ~0s left" in done.stdout


@pytest.mark.slow
def test_submitit_job_logs_progress_without_boilerplate(tmp_path: Path) -> None:
    done = run_cli("-m", "launcher=local", "width=0.1", f"results_dir={tmp_path / 'r'}",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    [err] = (tmp_path / "sweep" / ".submitit").rglob("*_log.err")
    [out] = (tmp_path / "sweep" / ".submitit").rglob("*_log.out")
    job_log = out.read_text() + err.read_text()
    for phrase in BOILERPLATE:
        assert phrase not in job_log, phrase
    assert "epoch 1/2: train loss" in job_log and "1/1 jobs done" in job_log
