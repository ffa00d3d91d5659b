"""``launcher=slurm`` on a real SLURM: job arrays, requeues, time limits, cancellations, failures.

Needs a cluster whose partition runs jobs on this machine's file system (CI brings up a
one-node one with ``.ci/slurm up``); skipped, saying so, where none is up. Each task asks for
no GPU, one CPU and 2 GB (``SLURM_GPUS_PER_TASK=0`` as on a CPU partition); the runs are
tiny (digits, width 0.1) so the whole file takes a few minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from propensity.storage.records import RunRecord
from tests.conftest import ROOT


def _cluster_missing() -> str | None:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return "no SLURM here (sbatch and sinfo not found); `.ci/slurm up` installs and starts one"
    try:
        states = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True,
                                timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        states = []
    if not any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states):
        return "no SLURM node is up (sinfo lists none idle); `.ci/slurm up` starts a one-node cluster"
    return None


MISSING = _cluster_missing()
pytestmark = [pytest.mark.slurm, pytest.mark.slow,
              pytest.mark.skipif(MISSING is not None, reason=str(MISSING))]

RUN = ["data=digits", "width=0.1", "stop=epochs", "logger=none", "optim.lr=0.05"]
ENV = {"SLURM_GPUS_PER_TASK": "0", "SLURM_CPUS_PER_TASK": "1", "SLURM_MEM_GB": "2",
       "SLURM_TIMEOUT_MIN": "20", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT),
       "WANDB_MODE": "offline"}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
    return {**env, **ENV}


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _clean_up(tmp_path: Path) -> Iterator[None]:
    """However a test ends, its jobs are cancelled and its sweeps stopped (without accounting,
    a sweep whose task was cancelled would wait for it for ever)."""
    yield
    tasks = _tasks(tmp_path)
    if tasks:
        subprocess.run(["scancel", *tasks], check=False)
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def _ctrl_c_stops_it() -> None:
    """In the sweep's process before it starts: Ctrl-C (SIGINT) stops it, as at a terminal,
    even when pytest itself was started with SIGINT ignored (a background ``make test &``)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sweep(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    _STARTED.append(subprocess.Popen(
        [sys.executable, "-m", "propensity.train", "-m", "launcher=slurm", *args,
         f"results_dir={tmp_path / 'r'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_ctrl_c_stops_it))
    return _STARTED[-1]


def _finish(process: subprocess.Popen[str], timeout: float = 600) -> str:
    try:
        return process.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def _records(results: Path) -> list[RunRecord]:
    return [RunRecord.load(p) for p in sorted(results.glob("*/*/record.json"))]


def _tasks(tmp_path: Path) -> list[str]:
    """The jobs submitit made: ``<array job id>_<task>`` each, or ``<job id>`` for a sweep of one."""
    folder = tmp_path / "sweep" / ".submitit"
    if not folder.is_dir():
        return []
    jobs = sorted(p.name for p in folder.iterdir() if re.fullmatch(r"\d+(_\d+)?", p.name))
    tasks = [j for j in jobs if "_" in j]  # an array's folder holds only its submission script
    return tasks or jobs


def _job_log(tmp_path: Path, task: str) -> str:
    folder = tmp_path / "sweep" / ".submitit" / task
    return "".join(p.read_text() for p in sorted(folder.glob("*_log.*")))


def _wait_for_epochs(tmp_path: Path, epochs: int, timeout: float = 300) -> Path:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for history in (tmp_path / "r").glob("adhoc/*/history.csv"):
            try:
                if len(pd.read_csv(history)) >= epochs:
                    return history.parent
            except (OSError, ValueError):
                pass
        time.sleep(0.5)
    raise AssertionError(f"no run reached epoch {epochs} in {timeout:.0f}s")


# Long enough that a requeue or a cancellation after epoch 20 lands mid-run on any machine (130
# epochs, seconds, left), short enough that the three runs of it cost little.
LONG_RUN = [*RUN, "stop.max_epochs=150", "progress=false"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunRecord, pd.DataFrame]:
    """`LONG_RUN` trained in one go, without SLURM: what an interrupted run must end as."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    done = subprocess.run([sys.executable, "-m", "propensity.train", *LONG_RUN,
                           f"results_dir={folder / 'u'}"], cwd=folder, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    [record] = _records(folder / "u")
    return record, pd.read_csv(folder / "u" / "adhoc" / record.run_key / "history.csv")


def _same_numbers(run_dir: Path, reference: tuple[RunRecord, pd.DataFrame]) -> None:
    record, history = RunRecord.load(run_dir / "record.json"), pd.read_csv(run_dir / "history.csv")
    expected, expected_history = reference
    assert record.run_key == expected.run_key
    numbers = ("train_loss", "val_loss", "val_acc", "test_acc", "effective_density", "unpruned_weights")
    assert {k: getattr(record, k) for k in numbers} == {k: getattr(expected, k) for k in numbers}
    pd.testing.assert_frame_equal(history, expected_history, check_exact=True)


def test_a_cohort_sweep_is_one_job_array_and_records_every_member(tmp_path: Path) -> None:
    process = _sweep(tmp_path, *RUN, "stop.max_epochs=3", "init_seed=0,1,2,3", "cohort=2")
    log = _finish(process)
    assert process.returncode == 0, log[-3000:]
    tasks = _tasks(tmp_path)
    assert [t.split("_")[1] for t in tasks] == ["0", "1"] and len({t.split("_")[0] for t in tasks}) == 1, \
        tasks  # one array, two tasks
    found = _records(tmp_path / "r")
    assert sorted(r.init_seed for r in found) == [0, 1, 2, 3]
    assert {(r.status, r.cohort_size) for r in found} == {("finished", 2)}
    assert "sweep done: 4 finished (4 runs in 2 jobs)" in log
    for task in tasks:
        job_log = _job_log(tmp_path, task)
        assert "srun" not in job_log and "Warning" not in job_log, job_log[-2000:]


def test_scontrol_requeue_resumes_and_ends_bit_identical(
    tmp_path: Path, uninterrupted: tuple[RunRecord, pd.DataFrame]
) -> None:
    process = _sweep(tmp_path, *LONG_RUN)
    run_dir = _wait_for_epochs(tmp_path, 20)
    [task] = _tasks(tmp_path)
    subprocess.run(["scontrol", "requeue", task], check=True)
    log = _finish(process)
    assert process.returncode == 0, log[-3000:]
    job_log = _job_log(tmp_path, task)
    assert "interrupted by SIGTERM: the run's record says interrupted; SLURM requeued job" in job_log
    assert f"resume {run_dir.name} from " in job_log
    assert RunRecord.load(run_dir / "record.json").status == "finished"
    _same_numbers(run_dir, uninterrupted)


def test_a_task_reaching_its_time_limit_is_requeued_by_submitit_and_resumes(tmp_path: Path) -> None:
    # Two minutes a task, signalled 30 s before: slurmctld sends the signal at its first check
    # (every 30 s) after the time limit less the delay less 30 s, so 60 to 90 s after the
    # start, once submitit's handler is installed. The run is far longer than one attempt on
    # any machine; the test ends once the second attempt has resumed and trained on.
    run = [*RUN, "stop.max_epochs=100000", "progress=false"]
    process = _sweep(tmp_path, *run, "hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=30")
    deadline = time.time() + 400
    resumed = ""
    while time.time() < deadline and not resumed:
        time.sleep(1)
        tasks = _tasks(tmp_path)
        resumed = next((line for line in _job_log(tmp_path, tasks[0]).splitlines()
                        if "[propensity][INFO] - resume " in line), "") if tasks else ""
    assert process.poll() is None
    [task] = _tasks(tmp_path)
    job_log = _job_log(tmp_path, task)
    assert resumed, job_log[-3000:]
    assert "this job is timed-out" in job_log and f"Requeued job {task}" in job_log  # submitit's
    # The line asks SLURM whether the task was requeued; while the requeue is still under way
    # scontrol may not say yet, and the line then gives both outcomes (`launch.slurm.next_step`).
    stopped = "stopped by the launcher (exit -1): the run's record says interrupted; "
    assert f"{stopped}SLURM requeued job {task}" in job_log \
        or f"{stopped}if SLURM requeues job {task} it resumes from the checkpoint" in job_log, job_log[-3000:]
    [run_dir] = (tmp_path / "r" / "adhoc").iterdir()
    assert resumed.endswith(str(run_dir / "checkpoints" / "last.ckpt"))
    first_attempt = len(pd.read_csv(run_dir / "history.csv"))
    _wait_for_epochs(tmp_path, first_attempt + 10)  # the second attempt trains on from there
    history = pd.read_csv(run_dir / "history.csv")
    assert history.epoch.tolist() == list(range(1, len(history) + 1))


def test_scancel_leaves_the_run_interrupted_and_a_rerun_resumes_it(
    tmp_path: Path, uninterrupted: tuple[RunRecord, pd.DataFrame]
) -> None:
    process = _sweep(tmp_path, *LONG_RUN)
    run_dir = _wait_for_epochs(tmp_path, 20)
    [task] = _tasks(tmp_path)
    subprocess.run(["scancel", task], check=True)
    deadline = time.time() + 120
    while time.time() < deadline and RunRecord.load(run_dir / "record.json").status == "running":
        time.sleep(0.5)
    record = RunRecord.load(run_dir / "record.json")
    assert record.status == "interrupted" and "SIGTERM" in (record.error or "")
    assert f"SLURM did not requeue job {task.split('_')[0]}" in _job_log(tmp_path, task) or \
        "did not requeue job" in _job_log(tmp_path, task)
    # Without accounting (sacct) submitit cannot tell the task ended; the user stops the sweep.
    process.send_signal(signal.SIGINT)
    _finish(process, timeout=60)

    shutil.rmtree(tmp_path / "sweep")
    again = _sweep(tmp_path, *LONG_RUN)
    log = _finish(again)
    assert again.returncode == 0, log[-3000:]
    [task] = _tasks(tmp_path)
    assert f"resume {run_dir.name} from " in _job_log(tmp_path, task)
    assert RunRecord.load(run_dir / "record.json").status == "finished"
    _same_numbers(run_dir, uninterrupted)


def test_a_failing_task_fails_the_sweep_with_one_line_per_failed_job(tmp_path: Path) -> None:
    # MNIST's files are there (the pre-flight looks for them, not in them) but unreadable: the
    # tasks fail once they load them; the digits tasks finish. MNIST's root is ./data (cwd).
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"not an idx file")
    process = _sweep(tmp_path, *RUN, "stop.max_epochs=2", "data=digits,mnist", "width=0.1,0.5")
    log = _finish(process)
    assert process.returncode == 1, log[-3000:]
    assert "sweep done: 2 failed, 2 finished (4 jobs)" in log, log[-3000:]
    failed = [x for x in log.splitlines() if re.search(r"job \d+ failed - ", x)]
    assert len(failed) == 2 and all("MNIST" in x and "traceback in " in x for x in failed), failed
    assert "Traceback (most recent call last)" not in log
