"""The package as users install and start it: a wheel with its configs, console scripts that
work from any directory, an app help in under two seconds, and shell completion."""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CONF, ROOT, run_cli

SCRIPTS = Path(sys.executable).parent


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.mark.slow
def test_wheel_holds_every_config(tmp_path: Path) -> None:
    """Built offline from a copy of the sources, so the checkout gains no build/ folder."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "propensity", src / "propensity",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("propensity-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {f"propensity/conf/{p.relative_to(CONF).as_posix()}" for p in CONF.rglob("*.yaml")}
    assert {"propensity/conf/train.yaml", "propensity/conf/hydra/help/propensity.yaml",
            "propensity/conf/experiment/mlp_sgd.yaml"} <= configs
    assert configs <= names, sorted(configs - names)
    assert "propensity/conf/__init__.py" in names


def test_console_script_composes_the_config_from_another_directory(tmp_path: Path) -> None:
    script = SCRIPTS / "propensity-train"
    if not script.is_file():
        pytest.skip("propensity is not installed in this environment (pip install -e .)")
    done = subprocess.run([str(script), "--cfg", "job", "model=conv2", "data=synthetic"],
                          cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "_target_: propensity.models.Conv2" in done.stdout
    assert "name: synthetic" in done.stdout


def test_help_is_the_apps_own_and_answers_in_under_two_seconds(tmp_path: Path) -> None:
    """Median of 3 of the CPU time (user + system) it costs, which a busy CI machine does not
    inflate as it does wall time (docs/performance.md's figure is the wall-time median of 5)."""
    times, out = [], ""
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = run_cli("--help", cwd=tmp_path, timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        assert done.returncode == 0, done.stderr[-2000:]
        out = done.stdout
    for group in ("model: conv2, mlp, resnet", "experiment:", "optim: adagrad, adam, sgd"):
        assert group in out
    assert "mlp_sgd" in out and "500 runs" in out  # the paper's grids
    assert out.count("propensity-train ") >= 3  # the example commands
    assert "Powered by Hydra" not in out
    assert statistics.median(times) < 2.0, times


def test_importing_the_entry_point_leaves_lightning_and_wandb_unimported() -> None:
    code = ("import sys, propensity.train; "
            "print(sorted(m for m in ('lightning', 'wandb', 'torch', 'propensity.module') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_make_train_passes_its_args_to_the_entry_point() -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = Path(sys.executable).parents[1]
    done = subprocess.run(["make", "-n", "-s", "train", 'ARGS=-m width=1,2 tags=[x]', f"VENV={venv}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    command = done.stdout.strip().splitlines()[-1]
    assert command == f"{venv}/bin/python -m propensity.train -m width=1,2 tags=[x]"


@pytest.mark.parametrize(("line", "expected"), [
    ("propensity-train model=", {"model=mlp", "model=conv2", "model=resnet", "model=vit"}),
    ("propensity-train experiment=mlp", {"experiment=mlp_sgd"}),
])
def test_shell_completion_lists_the_group_options(tmp_path: Path, line: str, expected: set[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "propensity.train", "-sc", "query=bash"],
        cwd=tmp_path, env={**_env(), "COMP_LINE": line}, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(done.stdout.split()) == expected
