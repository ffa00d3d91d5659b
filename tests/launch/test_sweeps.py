"""Multiruns as users launch them: idempotent, resumable, failures isolated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from propensity.launch.devices import assign_device, worker_count
from propensity.run.recipe import train
from propensity.storage.records import RunRecord
from tests.conftest import ROOT, run_cli

pytestmark = pytest.mark.slow
FAST = ["data=digits", "stop=epochs", "stop.max_epochs=2", "logger=none", "optim.lr=0.05"]


def records(results: Path) -> list[RunRecord]:
    return [RunRecord.load(p) for p in sorted(results.glob("*/*/record.json"))]


def test_single_run_from_the_command_line(tmp_path: Path) -> None:
    done = run_cli("width=0.5", f"results_dir={tmp_path / 'r'}", *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    [record] = records(tmp_path / "r")
    assert record.status == "finished" and record.width == 0.5
    assert "effective density" in done.stdout + done.stderr


def test_multirun_two_widths_then_rerun_skips_everything(tmp_path: Path) -> None:
    args = ["-m", "width=0.1,0.5", f"results_dir={tmp_path / 'r'}", *FAST]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert sorted(r.width for r in records(tmp_path / "r")) == [0.1, 0.5]
    assert "2 finished" in first.stdout + first.stderr

    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0
    assert "2 skipped" in again.stdout + again.stderr
    assert len(records(tmp_path / "r")) == 2


def test_local_submitit_launcher_makes_one_job_per_cohort_and_a_rerun_trains_nothing(tmp_path: Path) -> None:
    """launcher=slurm's code path: a cohort is one submitit job (one array task on SLURM), a
    lone run is one too; launched again, the same grid's jobs skip every run. Six seeds in
    cohorts of five: one job trains a cohort (of both data seeds), the other a single run, so
    one sweep (and one rerun) passes both engines through submitit."""
    args = ["-m", "launcher=local", "init_seed=0,1,2", "data_seed=0,1", "cohort=5",
            f"results_dir={tmp_path / 'r'}", *FAST, "width=0.1"]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    [sweep] = (tmp_path / "r" / "hydra" / "multirun").glob("*/*")
    jobs = [p for p in (sweep / ".submitit").iterdir() if p.name.isdigit()]
    assert len(jobs) == 2  # six seeds: a cohort of five, and one run alone
    found = records(tmp_path / "r")
    assert sorted((r.init_seed, r.data_seed) for r in found) == [(i, d) for i in range(3) for d in range(2)]
    assert {r.status for r in found} == {"finished"}
    assert sorted(r.cohort_size for r in found) == [1, 5, 5, 5, 5, 5]
    finished_at = {r.run_key: r.finished_at for r in found}
    assert len(finished_at) == 6

    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "6 skipped" in again.stdout + again.stderr
    assert {r.run_key: r.finished_at for r in records(tmp_path / "r")} == finished_at


def test_config_errors_in_a_multirun_are_one_line_each_and_nothing_launches(tmp_path: Path) -> None:
    """The pre-flight composes every job before any is launched; a job failing at run time,
    past it, fails alone (`tests/launch/test_failures.py`)."""
    done = run_cli("-m", "width=0,-1,0.1", f"results_dir={tmp_path / 'r'}", *FAST, cwd=tmp_path)
    log = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in log
    assert not (tmp_path / "r").exists()  # nothing trained, not even the valid job
    lines = [x for x in log.splitlines() if "sweep not launched" in x]
    assert len(lines) == 2 and "width=0: must be in (0, 100]" in lines[0] and "(1 of 3 jobs)" in lines[0]


def test_a_bad_single_run_prints_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    done = run_cli("width=abc", f"results_dir={tmp_path / 'r'}", *FAST, cwd=tmp_path)
    log = done.stdout + done.stderr
    assert done.returncode == 1
    assert "config error: width=abc: must be a number" in log and "Traceback" not in log


def test_sigterm_marks_the_run_interrupted_and_exits_non_zero(tmp_path: Path) -> None:
    args = ["width=0.1", f"results_dir={tmp_path / 'r'}", "data=digits", "stop=epochs",
            "stop.max_epochs=200", "logger=none", "optim.lr=0.05"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "propensity.train", *args], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((tmp_path / "r").glob("adhoc/*/checkpoints/last.ckpt")):
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, output[-2000:]
    [record] = records(tmp_path / "r")
    assert record.status == "interrupted" and "SIGTERM" in record.error
    assert "interrupted by SIGTERM" in output


def test_dotenv_in_the_working_directory_sets_results_dir_and_slurm_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        f"PROPENSITY_RESULTS_DIR={tmp_path / 'from_env'}\nSLURM_PARTITION=gpu_queue\n")
    for key in ("PROPENSITY_RESULTS_DIR", "SLURM_PARTITION"):
        monkeypatch.delenv(key, raising=False)
    job = run_cli("--cfg", "job", "--resolve", cwd=tmp_path)
    assert job.returncode == 0, job.stderr[-2000:]
    assert f"results_dir: {tmp_path / 'from_env'}" in job.stdout
    # the slurm launcher's partition, as the composed hydra config resolves it
    launcher = run_cli("launcher=slurm", "+partition=${hydra:launcher.partition}", "--cfg", "job",
                       "--resolve", cwd=tmp_path)
    assert launcher.returncode == 0, launcher.stderr[-2000:]
    assert "partition: gpu_queue" in launcher.stdout


def test_killed_sweep_resumes_from_checkpoint_and_runs_each_job_once(tmp_path: Path, compose_cfg) -> None:
    epochs = 30
    args = ["-m", "width=0.1,1", f"results_dir={tmp_path / 'r'}", "data=digits", "stop=epochs",
            f"stop.max_epochs={epochs}", "logger=none", "optim.lr=0.05"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-m", "propensity.train", *args], cwd=tmp_path,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 300
    wide = None
    while time.time() < deadline and wide is None:
        time.sleep(0.2)
        for history in (tmp_path / "r").glob("adhoc/mlp-w1-*/history.csv"):
            if len(pd.read_csv(history)) >= 3:
                wide = history.parent
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert wide is not None, "the second job never got going"
    assert RunRecord.load(wide / "record.json").status == "running"
    assert (wide / "checkpoints" / "last.ckpt").is_file()

    again = run_cli(*args, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    log = again.stdout + again.stderr
    assert "resume" in log and "1 skipped" in log and "1 finished" in log
    for record in records(tmp_path / "r"):
        history = pd.read_csv(tmp_path / "r" / "adhoc" / record.run_key / "history.csv")
        assert record.status == "finished"
        assert history.epoch.tolist() == list(range(1, epochs + 1))

    # the same run uninterrupted, in this process (one thread, as the CLI's: OMP_NUM_THREADS)
    reference = train(compose_cfg("width=1", *args[3:]))
    resumed = RunRecord.load(wide / "record.json")
    assert resumed.run_key == reference.run_key
    assert (resumed.train_loss, resumed.val_acc, resumed.effective_density) == (
        reference.train_loss, reference.val_acc, reference.effective_density)


def test_gpus_launcher_runs_parallel_jobs_on_cpu(tmp_path: Path) -> None:
    done = run_cli("-m", "launcher=gpus", "width=0.1,0.5", f"results_dir={tmp_path / 'r'}",
                   *FAST, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(records(tmp_path / "r")) == 2
    assert "Joblib.Parallel" in done.stdout + done.stderr


def test_unknown_group_option_is_a_clear_error(tmp_path: Path) -> None:
    done = run_cli("model=transformer", cwd=tmp_path)
    assert done.returncode != 0
    assert "model" in done.stderr and "mlp" in done.stderr  # names the group and the options


@pytest.mark.parametrize(
    ("job", "devices", "expected"),
    [(0, ["0", "1"], 0), (1, ["0", "1"], 1), (2, ["0", "1"], 0), (5, ["3", "5", "7"], 2),
     (3, [], None)],
)
def test_device_assignment_is_round_robin(job: int, devices: list[str], expected: int | None) -> None:
    assert assign_device(job, devices) == expected


def test_worker_count_follows_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3,5")
    assert worker_count(cpu_workers=7) == 3
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert worker_count(cpu_workers=7) == 7
