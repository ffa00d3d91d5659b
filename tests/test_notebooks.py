"""The notebooks execute top to bottom on the results of a real digits sweep (CI runs this)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def results(digits_sweep_results) -> Path:
    return digits_sweep_results


def test_notebooks_are_saved_without_outputs():
    assert [p.name for p in NOTEBOOKS] == [
        "01_effective_density.ipynb",
        "02_training_dynamics.ipynb",
        "03_mechanisms.ipynb",
        "04_from_wandb.ipynb",
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
def test_notebook_executes(path, results, monkeypatch, tmp_path):
    """As docs/analysis.md starts it: the kernel runs in notebooks/, the results path is relative
    to the repository (where ``jupyter lab notebooks/`` is typed), and W&B has no key."""
    monkeypatch.setenv("PROPENSITY_RESULTS", os.path.relpath(results, ROOT))
    monkeypatch.setenv("PROPENSITY_WANDB_PROJECT", "nobody/nothing")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
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
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    if path.stem == "03_mechanisms":
        assert "methods: magnitude, random, global_magnitude, edge_popup" in printed
        assert "no weight artifacts" not in printed and "; chance overlap: " in printed
    if path.stem == "04_from_wandb":
        assert "W&B skipped (no W&B API key)" in printed
