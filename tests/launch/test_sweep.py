"""The sweep's progress line: jobs done of the sweep's size, counted as Hydra expands it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from omegaconf import OmegaConf

from propensity.launch.sweep import JOB_STATUS, job_outcomes, run_outcomes, sweep_progress, sweep_size

BASIC = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
COHORTS = "hydra_plugins.propensity_cohort.cohort_sweeper.CohortSweeper"


def _sweep_dir(tmp_path: Path, cli: list[str], params: dict[str, str], done: int,
               sweeper: str = BASIC, cohort: int = 1) -> Path:
    sweep = tmp_path / "multirun"
    sweep.mkdir()
    saved = {"cohort": cohort,
             "hydra": {"sweeper": {"_target_": sweeper, "params": params},
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


def test_a_cohort_sweep_counts_its_cohort_jobs(tmp_path: Path) -> None:
    # 2 widths x 2 data seeds x 5 init seeds in cohorts of 3: per width 10 seeds -> 4 jobs
    sweep = _sweep_dir(tmp_path, ["width=0.1,0.5", "data_seed=0,1", "init_seed=range(5)"], {}, done=1,
                       sweeper=COHORTS, cohort=3)
    assert sweep_size(sweep / "multirun.yaml") == 2 * 4
    started = (sweep / "multirun.yaml").stat().st_mtime
    assert sweep_progress(sweep, now=started + 10) == "1/8 jobs done, ~1m10s left"


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
