"""``launcher=slurm`` without a cluster: resources from the environment, sbatch's refusals in one
line, one owner of signals, and what an interrupted run says happens next."""

from __future__ import annotations

import warnings
from pathlib import Path

import lightning as L
import pytest
from lightning.pytorch.plugins.environments import LightningEnvironment

from propensity.engines.lightning import _plugins
from propensity.launch import slurm
from propensity.launch.console import quiet_third_party
from tests.conftest import run_cli


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("2", 2), ("0", None), (0, None)])
def test_gpus_per_task_zero_asks_for_none(value: object, expected: int | None) -> None:
    assert slurm.gpus_per_task(value) == expected


def test_a_bad_gpu_count_names_the_variable() -> None:
    with pytest.raises(ValueError, match=r"^SLURM_GPUS_PER_TASK=two: must be a whole number; "):
        slurm.gpus_per_task("two")


# sbatch's own stderr, as submitit's FailedJobError carries it
GRES = ("Command failed with return code 1: sbatch job.sh\nsbatch: error: Invalid generic resource "
        "(gres) specification\n")
PARTITION = ("sbatch: error: invalid partition specified: gpu\nsbatch: error: Batch job submission "
             "failed: Invalid partition name specified\n")
MEMORY = ("sbatch: error: Memory specification can not be satisfied\nsbatch: error: Batch job "
          "submission failed: Requested node configuration is not available\n")


@pytest.mark.parametrize(("stderr", "starts"), [
    (GRES, "hydra.launcher.gpus_per_task=1 (SLURM_GPUS_PER_TASK): sbatch refused the job array "
           "(Invalid generic resource (gres) specification); set SLURM_GPUS_PER_TASK=0"),
    (PARTITION, "hydra.launcher.partition=gpu (SLURM_PARTITION): sbatch refused the job array "
                "(invalid partition specified: gpu); set SLURM_PARTITION"),
    (MEMORY, "hydra.launcher.mem_gb=16 (SLURM_MEM_GB): sbatch refused the job array (Memory "
             "specification can not be satisfied); set SLURM_MEM_GB"),
])
def test_an_sbatch_refusal_is_one_line_naming_the_setting(stderr: str, starts: str) -> None:
    launcher = {"gpus_per_task": 1, "partition": "gpu", "mem_gb": 16}
    line = slurm.sbatch_refusal(RuntimeError(stderr), launcher)
    assert line is not None and line.startswith(starts) and "\n" not in line


def test_other_errors_are_not_taken_for_refusals() -> None:
    assert slurm.sbatch_refusal(RuntimeError("CUDA out of memory")) is None


def test_outside_slurm_an_interrupted_run_is_rerun(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm.next_step() == "rerun the command to resume"


def test_under_slurm_the_restart_count_tells_a_requeue_from_a_cancel(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``scontrol`` stands in as a script printing the job's line, as SLURM 22.05 prints it."""
    scontrol = tmp_path / "scontrol"
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    for restarts, expected in (("1", "SLURM requeued job 42; it resumes from the checkpoint"),
                               ("0", "SLURM did not requeue job 42; rerun the command to resume")):
        scontrol.write_text("#!/bin/sh\necho 'JobId=42 JobName=train JobState=COMPLETING Reason=None "
                            f"Requeue=1 Restarts={restarts} BatchFlag=1'\n")
        scontrol.chmod(0o755)
        assert slurm.next_step().startswith(expected)
    scontrol.write_text("#!/bin/sh\nexit 1\n")
    assert slurm.next_step().startswith("if SLURM requeues job 42 it resumes from the checkpoint")


def test_lightning_never_owns_slurms_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a SLURM job Lightning would pick its SLURM environment and requeue on SIGUSR1;
    the engine's plain environment leaves the requeues to submitit."""
    for key, value in {"SLURM_JOB_ID": "42", "SLURM_NTASKS": "1", "SLURM_JOB_NAME": "train",
                       "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0"}.items():
        monkeypatch.setenv(key, value)
    quiet_third_party()
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        plugins=_plugins())
    assert type(trainer._accelerator_connector.cluster_environment) is LightningEnvironment


def test_the_srun_hint_is_silenced() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party()
        warnings.warn("The `srun` command is available on your system but is not used. HINT: ...",
                      UserWarning, stacklevel=1)
    assert caught == []


@pytest.mark.slow
def test_resources_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"SLURM_GPUS_PER_TASK": "0", "SLURM_CPUS_PER_TASK": "2", "SLURM_MEM_GB": "3",
                       "SLURM_TIMEOUT_MIN": "30", "SLURM_MAX_REQUEUES": "5"}.items():
        monkeypatch.setenv(key, value)
    shown = run_cli("launcher=slurm", *(f"+{k}=${{hydra:launcher.{k}}}" for k in (
        "gpus_per_task", "cpus_per_task", "mem_gb", "timeout_min", "max_num_timeout")),
        "--cfg", "job", "--resolve", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for line in ("gpus_per_task: null", "cpus_per_task: 2", "mem_gb: 3", "timeout_min: 30",
                 "max_num_timeout: 5"):
        assert line in shown.stdout


DEFAULTS = {"timeout_min": 240, "array_parallelism": 64, "gpus_per_task": None, "cpus_per_task": 4,
            "mem_gb": 16, "max_num_timeout": 3, "signal_delay_s": 120, "partition": "cpu"}
NODE = {"cpus_per_task": 2, "mem_gb": 23, "gpus_per_task": 0}


def _problems(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], values: dict[str, object],
              sbatch: str | None = "/usr/bin/sbatch") -> list[str]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    given = {**DEFAULTS, **values}

    def value_of(key: str) -> object:
        if isinstance(given[key], Exception):
            raise given[key]  # type: ignore[misc]
        return given[key]

    return slurm.launcher_problems(value_of, which=lambda _: sbatch, largest_node=lambda _: NODE)


@pytest.mark.parametrize(("env", "values", "line"), [
    ({"SLURM_MEM_GB": "16G"}, {"mem_gb": "16G"},
     "SLURM_MEM_GB=16G: must be a whole number >= 1, without units"),
    ({"SLURM_CPUS_PER_TASK": "-2"}, {"cpus_per_task": -2},
     "SLURM_CPUS_PER_TASK=-2: must be a whole number >= 1"),
    ({"SLURM_GPUS_PER_TASK": "two"}, {"gpus_per_task": ValueError("two")},
     "SLURM_GPUS_PER_TASK=two: must be a whole number >= 0"),
    ({"SLURM_TIMEOUT_MIN": "4h"}, {"timeout_min": "4h"}, "SLURM_TIMEOUT_MIN=4h: must be a whole number"),
    ({}, {"cpus_per_task": 1, "mem_gb": 64},
     "SLURM_MEM_GB=64: no node of partition cpu has 64 GB (the largest has 23)"),
    ({}, {}, "SLURM_CPUS_PER_TASK=4: no node of partition cpu has 4 CPUs (the largest has 2)"),
    ({}, {"cpus_per_task": 1, "gpus_per_task": 1},
     "SLURM_GPUS_PER_TASK=1: no node of partition cpu has 1 GPUs (the largest has 0)"),
])
def test_the_launchers_schema_refuses_in_one_line_before_anything_is_submitted(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], values: dict[str, object], line: str
) -> None:
    [found] = _problems(monkeypatch, env, values)
    assert found.startswith(line) and "; " in found


def test_a_request_that_fits_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _problems(monkeypatch, {}, {"cpus_per_task": 1, "mem_gb": 2}) == []


def test_launcher_slurm_without_slurm_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    [found] = _problems(monkeypatch, {}, {}, sbatch=None)
    assert found.startswith("launcher=slurm: SLURM is not installed on this machine")
