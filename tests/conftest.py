"""Shared fixtures: composing the real Hydra config, and a fast training config."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "propensity" / "conf"

# A run that trains for two epochs on digits: seconds, yet every stage of the recipe runs.
FAST = ["data=digits", "width=0.1", "stop=epochs", "stop.max_epochs=2", "logger=none",
        "optim.lr=0.05"]

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# One intra-op thread for the suite and every process it starts (inherited through the
# environment): its models are tiny, and on the loaded 2-core machine two threads spin on each
# small op (measured: tests/engines/test_stopping.py and tests/pruning/test_units.py 12.6-15.4 s
# with two threads, 1.9-3.4 s with one). Set OMP_NUM_THREADS to run the suite with more.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


# Tests that run in one process, one after another, when the suite runs in several (`make test`:
# pytest-xdist's -n 2): a node ID or its prefix -> the group's name.
ONE_PROCESS = {
    # CI's one-node SLURM has 2 CPUs: a second test's tasks would queue this one's, past the
    # time limits these tests wait on.
    "tests/launch/test_slurm.py": "slurm",
    # The readers of the session's digits sweep (`digits_sweep_results`): trained once.
    "tests/test_notebooks.py": "digits_sweep",
    "tests/report/test_cli.py::test_report_end_to_end_on_a_real_digits_sweep": "digits_sweep",
    # Its module fixtures build whole reports: once.
    "tests/report/test_build.py": "report_build",
}


def one_process_group(nodeid: str) -> str | None:
    """The group of `ONE_PROCESS` the test `nodeid` belongs to, if any."""
    for prefix, group in ONE_PROCESS.items():
        if nodeid == prefix or nodeid.startswith((f"{prefix}::", f"{prefix}[")):
            return group
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With ``-n N``: each test goes to whichever process is free, except the groups of
    `ONE_PROCESS`, each of which goes to one process whole. (xdist's ``--dist loadgroup`` marks
    a group by editing node IDs, which pytest 9.2's structured IDs ignore: it groups nothing.)"""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None  # a distribution asked for by name
    from xdist.scheduler import LoadScopeScheduling

    class OneProcessGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return one_process_group(nodeid) or nodeid

    return OneProcessGroups(config, log)


@pytest.fixture
def compose_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """Compose ``propensity/conf/train.yaml`` with overrides, results going to a temporary directory."""

    def _compose(*overrides: str) -> DictConfig:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose("train", overrides=[f"results_dir={tmp_path / 'results'}", *overrides])

    return _compose


def run_directory(cfg: DictConfig) -> Path:
    """Where the run `cfg` describes lives: ``<results_dir>/<name>/<run_key>`` (read without
    validating, so a test can ask where a refused config would have written)."""
    from propensity.config.settings import experiment_dir
    from propensity.identity import run_key

    return experiment_dir(cfg) / run_key(cfg)


def run_cli(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m propensity.train`` as a user would, in `cwd`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline"}
    return subprocess.run(
        [sys.executable, "-m", "propensity.train", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def digits_sweep_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart's real digits sweep (`tests.report.test_cli.digits_sweep`), run once per
    session for the report and notebook tests that read it (one process, not one per reader)."""
    from tests.report.test_cli import digits_sweep

    return digits_sweep(tmp_path_factory.getbasetemp())


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run tiny models on one thread: on a loaded 2-core machine, intra-op threads spin and
    a 0.3 ms forward takes 50 ms."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
