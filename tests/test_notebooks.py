"""The notebooks execute top to bottom on the results of a real digits sweep (CI runs this)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.report.test_cli import digits_sweep

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    return digits_sweep(tmp_path_factory.getbasetemp())


def test_notebooks_are_saved_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01_effective_density.ipynb",
        "02_training_dynamics.ipynb",
    ]
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        assert all(
            not c.get("outputs") and c.get("execution_count") is None
            for c in cells
            if c.cell_type == "code"
        ), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, results, monkeypatch):
    monkeypatch.setenv("PROPENSITY_RESULTS", str(results))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
