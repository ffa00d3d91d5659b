"""A job that fails at run time, past the pre-flight, fails alone: the others finish, the sweep
names it in one line and exits non-zero (the sweep-level refusals are tests/config/test_preflight.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from propensity.storage.records import RunRecord
from tests.conftest import run_cli

pytestmark = pytest.mark.slow
FAST = ["stop=epochs", "stop.max_epochs=2", "logger=none", "optim.lr=0.05", "width=0.1"]
IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
       "t10k-labels-idx1-ubyte")


def test_a_job_failing_at_run_time_does_not_stop_the_others(tmp_path: Path) -> None:
    # MNIST's files are present (the pre-flight looks for them, not in them) but damaged.
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in IDX:
        (raw / name).write_bytes(b"not an idx file")
    done = run_cli("-m", "data=digits,mnist", f"results_dir={tmp_path / 'r'}", *FAST, cwd=tmp_path)
    log = done.stdout + done.stderr
    assert done.returncode == 1, log[-2000:]
    assert "sweep done: 1 failed, 1 finished (2 jobs)" in log and "Traceback" not in log
    [failed] = [x for x in log.splitlines() if re.search(r"job \d+ failed - ", x)]
    assert "MNIST files under data/MNIST/raw are unreadable" in failed
    assert (tmp_path / failed.rsplit("traceback in ", 1)[1].rstrip(")")).is_file()  # from cwd
    statuses = sorted(RunRecord.load(p).status for p in (tmp_path / "r").glob("*/*/record.json"))
    assert statuses == ["failed", "finished"]
