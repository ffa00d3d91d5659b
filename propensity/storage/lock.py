"""One writer per run folder: the lock a run holds while it trains, on one host or many.

A resubmitted job array, or a cohort sweep started beside a single-run sweep of the same
seeds, launches the same run twice. The first process to take the run's lock trains it; any
other skips it, naming the holder. The lock is ``<run folder>/train.lock``, taken with
`filelock.FileLock`, which is ``flock(2)`` on POSIX: the kernel (and, on a shared file system,
the file server) releases it when the holding process ends in any way, SIGKILL and a lost
node included. Beside it ``train.lock.json`` names the holder (host, pid, since when, SLURM
job); the holder removes it on release, so one found when the lock is free was left by a
process that died, and the run is taken over (it resumes from its checkpoint).

Limits on shared file systems. On NFS, Linux implements ``flock`` as a whole-file POSIX
lock that the server arbitrates, so it holds across the cluster's hosts with NFSv4, or
NFSv3 with ``lockd``; it is host-local when the file system is mounted ``nolock`` or
``local_lock=flock|all``. A lock of a node that is lost (not a process that dies) is freed
only when the server's lease runs out (NFSv4: 90 s by default) or, on NFSv3, when the node
reboots. Lustre needs the ``flock`` mount option; without it (or on any file system whose
``flock`` fails with ENOSYS) filelock falls back to a marker file, which works across
hosts but cannot tell a dead holder from a live one.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from propensity.storage.atomic import write_json_atomic

LOCK_FILE = "train.lock"
HOLDER_FILE = "train.lock.json"
LOCK_FILES = (LOCK_FILE, HOLDER_FILE)


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a run's lock."""

    host: str
    pid: int
    since: str
    slurm_job: str | None = None

    @classmethod
    def this_process(cls) -> Holder:
        array = os.environ.get("SLURM_ARRAY_JOB_ID")
        job = (f"{array}_{os.environ.get('SLURM_ARRAY_TASK_ID')}" if array
               else os.environ.get("SLURM_JOB_ID"))
        return cls(socket.gethostname(), os.getpid(),
                   datetime.now().astimezone().isoformat(timespec="seconds"), job)

    def __str__(self) -> str:
        job = f", SLURM job {self.slurm_job}" if self.slurm_job else ""
        return f"{self.host} pid {self.pid} since {self.since}{job}"


class RunBusyError(Exception):
    """Another process holds the run's lock: it is training the run now."""

    def __init__(self, run_dir: Path, holder: Holder | None) -> None:
        self.run_dir, self.holder = run_dir, holder
        who = str(holder) if holder else "another process (it has not named itself yet)"
        super().__init__(f"being trained by {who}")


class RunLock:
    """The lock of one run folder; `acquire` never waits (a busy run is skipped, not queued)."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self._lock: FileLock | None = None
        self.taken_over: Holder | None = None

    @property
    def path(self) -> Path:
        return self.run_dir / LOCK_FILE

    def acquire(self) -> RunLock:
        """Take the lock or raise `RunBusyError`; `taken_over` names a dead holder whose lock this
        replaces (its process ended without releasing: killed, or its node lost)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path), thread_local=False)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise RunBusyError(self.run_dir, self._holder_soon()) from None
        self._lock = lock
        self.taken_over = read_holder(self.run_dir)
        write_json_atomic(self.run_dir / HOLDER_FILE, asdict(Holder.this_process()))
        return self

    def release(self) -> None:
        """Remove the holder file, then free the lock (in this order: a holder file without a
        held lock means its holder died)."""
        if self._lock is None:
            return
        (self.run_dir / HOLDER_FILE).unlink(missing_ok=True)
        self._lock.release()
        self._lock = None

    def _holder_soon(self) -> Holder | None:
        """The holder's name; a holder that took the lock an instant ago writes it within
        milliseconds, so look a few times before giving up."""
        for _ in range(20):
            holder = read_holder(self.run_dir)
            if holder is not None:
                return holder
            time.sleep(0.05)
        return None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()


def read_holder(run_dir: str | Path) -> Holder | None:
    """The holder named in ``train.lock.json`` of `run_dir`, if one is (and is readable)."""
    try:
        data = json.loads((Path(run_dir) / HOLDER_FILE).read_text())
        return Holder(str(data["host"]), int(data["pid"]), str(data["since"]), data.get("slurm_job"))
    except (OSError, ValueError, KeyError, TypeError):
        return None
