"""The sweep's progress line: jobs done of the sweep's size, counted as Hydra expands it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from omegaconf import OmegaConf

from propensity.launch.sweep import JOB_STATUS, job_outcomes, run_outcomes, sweep_progress, sweep_size


def _sweep_dir(tmp_path: Path, cli: list[str], params: dict[str, str], done: int) -> Path:
    sweep = tmp_path / "multirun"
    sweep.mkdir()
    saved = {"hydra": {"sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                                   "params": params},
                       "overrides": {"task": cli}}}
    OmegaConf.save(OmegaConf.create(saved), sweep / "multirun.yaml")
    for job in range(done):
        (sweep / str(job)).mkdir()
        (sweep / str(job) / JOB_STATUS).write_text(json.dumps({"status": "finished"}))
    return sweep


def test_sweep_size_is_the_product_of_the_value_lists(tmp_path: Path) -> None:
    sweep = _sweep_dir(tmp_path, ["width=0.1,0.5", "data=digits"],
                       {"init_seed": "range(10)", "init": "glorot,he"}, done=0)
    assert sweep_size(sweep / "multirun.yaml") == 2 * 10 * 2


def test_command_line_list_replaces_the_experiments_grid(tmp_path: Path) -> None:
    sweep = _sweep_dir(tmp_path, ["width=0.1,0.5"], {"width": "0.1,0.5,1,2,5"}, done=0)
    assert sweep_size(sweep / "multirun.yaml") == 2


def test_progress_extrapolates_the_sweeps_throughput(tmp_path: Path) -> None:
    sweep = _sweep_dir(tmp_path, ["width=0.1,0.5,1,2"], {}, done=1)
    started = (sweep / "multirun.yaml").stat().st_mtime
    os.utime(sweep / "multirun.yaml", (started, started))
    assert sweep_progress(sweep, now=started + 30) == "1/4 jobs done, ~1m30s left"


def test_a_cohort_job_counts_each_member(tmp_path: Path) -> None:
    members = [{"run_key": "a", "status": "finished", "skipped": True},
               {"run_key": "b", "status": "diverged", "skipped": False},
               {"run_key": "c", "status": "finished", "skipped": False}]
    statuses = {"0": {"status": "diverged", "run_key": "a", "skipped": False, "members": members},
                "1": {"status": "finished", "run_key": "d", "skipped": False},
                "2": {"status": "interrupted", "error": "x", "members": members[:2]}}
    for job, status in statuses.items():
        (tmp_path / job).mkdir()
        (tmp_path / job / JOB_STATUS).write_text(json.dumps(status))
    assert list(job_outcomes(tmp_path).values()) == ["diverged", "finished", "interrupted"]
    assert run_outcomes(tmp_path) == {"skipped": 1, "diverged": 1, "finished": 2, "interrupted": 2}
