"""The "Extending" example of docs/extending.md, run as written: a researcher's model and data module in
their own package and config folder, trained as cohorts, pruned, collected and reported.

The files and the commands are read from the page itself, so the example cannot drift
from what runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

SECTION = "## A worked example"


def example() -> tuple[dict[str, str], str]:
    """The example's files (path -> text) and its shell commands, from docs/extending.md."""
    text = (ROOT / "docs" / "extending.md").read_text()
    section = text[text.index(SECTION):]
    section = section[: section.index("\n## ", len(SECTION))]
    files = dict(re.findall(r"^`([\w./]+)`:\n\n```\w+\n(.*?)^```", section, flags=re.M | re.S))
    [commands] = re.findall(r"^```sh\n(.*?)^```", section, flags=re.M | re.S)
    return files, commands


def test_the_example_has_a_model_a_data_module_and_their_configs() -> None:
    files, commands = example()
    assert set(files) == {"mynets/__init__.py", "conf/model/tanhnet.yaml", "conf/data/blobs.yaml"}
    assert "hydra.searchpath" in commands and "propensity.report" in commands


@pytest.mark.slow
def test_the_example_trains_prunes_collects_and_reports(tmp_path: Path) -> None:
    files, commands = example()
    project = tmp_path / "myproject"
    for path, text in files.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "PROPENSITY_RESULTS_DIR"}
    env.update(PYTHONPATH=str(ROOT), WANDB_MODE="offline", OMP_NUM_THREADS="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")  # this python
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", commands], cwd=project, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in (project / "results" / "mine").glob("*/record.json")]
    assert len(records) == 4
    assert {r["width"] for r in records} == {0.5, 1.0} and {r["cohort_size"] for r in records} == {2}
    assert all(r["run_key"].startswith("tanhnet-") and r["data"] == "blobs" for r in records)
    assert all(r["effective_density"] is not None for r in records), [r["status"] for r in records]
    report = (project / "results" / "mine" / "report" / "report.md").read_text()
    assert "tanhnet/SGD · blobs" in report
