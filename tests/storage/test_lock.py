"""The run lock: one holder at a time, named to whoever finds it held; a dead holder's lock is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from propensity.storage.lock import HOLDER_FILE, LOCK_FILE, RunBusyError, RunLock, read_holder
from tests.conftest import ROOT

HOLD = """
import sys, time
from propensity.storage.lock import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(600)
"""


def _holder_process(run_dir: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], text=True,
                               stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout is not None and process.stdout.readline().strip() == "held"
    return process


def test_a_second_taker_is_refused_with_the_holders_host_pid_and_start(tmp_path: Path) -> None:
    with RunLock(tmp_path / "run"):
        with pytest.raises(RunBusyError) as busy:
            RunLock(tmp_path / "run").acquire()
        holder = busy.value.holder
        assert holder is not None and holder.pid == os.getpid()
        assert str(busy.value).startswith(f"being trained by {holder.host} pid {os.getpid()} since ")
    # released: the holder file goes, the lock file stays (waiters share its inode), taken again
    assert not (tmp_path / "run" / HOLDER_FILE).exists() and (tmp_path / "run" / LOCK_FILE).exists()
    with RunLock(tmp_path / "run") as again:
        assert again.taken_over is None


def test_another_process_holding_the_lock_makes_the_run_busy(tmp_path: Path) -> None:
    process = _holder_process(tmp_path / "run")
    try:
        with pytest.raises(RunBusyError) as busy:
            RunLock(tmp_path / "run").acquire()
        assert busy.value.holder is not None and busy.value.holder.pid == process.pid
    finally:
        process.kill()
        process.wait()


def test_the_lock_of_a_sigkilled_holder_is_taken_over_and_names_it(tmp_path: Path) -> None:
    process = _holder_process(tmp_path / "run")
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    started = time.monotonic()
    with RunLock(tmp_path / "run") as lock:
        assert time.monotonic() - started < 1  # no waiting for a timeout: the kernel freed it
        assert lock.taken_over is not None and lock.taken_over.pid == process.pid
        held = read_holder(tmp_path / "run")
        assert held is not None and held.pid == os.getpid()


def test_the_holder_names_its_slurm_array_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "812")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "7")
    with RunLock(tmp_path / "run"):
        holder = read_holder(tmp_path / "run")
        assert holder is not None and str(holder).endswith(", SLURM job 812_7")
