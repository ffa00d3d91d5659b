"""``python -m propensity.report``: its errors, its output from parquet, and a real digits sweep."""

import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from propensity.report import main
from tests.analysis import synthetic

REPO = Path(__file__).resolve().parents[2]
SWEEP = ["experiment=quickstart", "width=0.5,1,2", "init_seed=0,1"]


def _synthetic():
    return synthetic


def digits_sweep(base: Path) -> Path:
    """A real quickstart sweep (MLP on digits, 3 widths x 2 init seeds) under `base`; the tests
    read it through the session fixture ``digits_sweep_results``, which runs it once."""
    results = base / "digits_sweep"
    command = [
        sys.executable,
        "-m",
        "propensity.train",
        "-m",
        *SWEEP,
        f"results_dir={results}",
        f"hydra.sweep.dir={base / 'digits_sweep_hydra'}",
    ]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results


def test_missing_directory_is_one_line_error(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "does not exist" in err and "\n" not in err


def test_directory_without_runs_is_one_line_error(tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: no runs found in {tmp_path} (no record.json below it)"
    assert not (tmp_path / "report").exists()


def _collected(folder: Path) -> None:
    tables = _synthetic().degenerate_tables()
    for name in ("runs", "trajectories", "histories"):
        getattr(tables, name).to_parquet(folder / f"{name}.parquet")


def test_out_pointing_at_a_file_is_one_line_error(tmp_path, capsys):
    _collected(tmp_path)
    (tmp_path / "afile").write_text("")
    assert main([str(tmp_path), "--out", str(tmp_path / "afile")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --out {tmp_path / 'afile'}: ") and "is a file" in err and "\n" not in err


def test_a_truncated_runs_table_is_one_line_error(tmp_path, capsys):
    _collected(tmp_path)
    whole = (tmp_path / "runs.parquet").read_bytes()
    (tmp_path / "runs.parquet").write_bytes(whole[: len(whole) // 2])
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: cannot read the collected tables of {tmp_path}") and "\n" not in err
    assert err.endswith("rerun with --collect to rebuild them from the run records")


def test_report_from_collected_parquet(tmp_path, capsys):
    tables = _synthetic().degenerate_tables()
    for name in ("runs", "trajectories", "histories"):
        getattr(tables, name).to_parquet(tmp_path / f"{name}.parquet")
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert "1 runs, 1 with an effective density" in capsys.readouterr().out
    assert (tmp_path / "out" / "report.md").is_file()
    assert (tmp_path / "out" / "figures" / "fig3_pruning_trajectories.png").is_file()
    text = (tmp_path / "out" / "report.md").read_text()
    assert "No section-5 artifacts in these 1 runs; enable them with `artifacts.weights=true" in text


@pytest.mark.slow
def test_report_end_to_end_on_a_real_digits_sweep(tmp_path_factory, digits_sweep_results):
    results = digits_sweep_results
    out = tmp_path_factory.mktemp("report")
    assert main([str(results), "--out", str(out), "--collect"]) == 0
    runs = pd.read_parquet(results / "runs.parquet")
    assert len(runs) == 6 and set(runs["status"]) <= {"finished", "max_epochs_reached"}
    table = pd.read_csv(out / "tables" / "table2.csv")
    assert sorted(table["width"]) == [0.5, 1.0, 2.0]
    assert table["n_runs"].tolist() == [2, 2, 2] and table["n_paired"].tolist() == [2, 2, 2]
    text = (out / "report.md").read_text()
    assert "MLP/SGD · digits" in text and "6 runs, 6 of them complete" in text
    # The quickstart records the baselines and every section-5 artifact.
    assert "Methods: magnitude, random, global_magnitude, edge_popup." in text
    paired = pd.read_csv(out / "tables" / "methods_paired.csv")
    assert len(paired) == 3 * 3 and set(paired["n_pairs"]) == {2}
    overlap = pd.read_csv(out / "tables" / "section5_overlap_tables.csv")
    assert overlap["runs"].dropna().tolist() == [2, 2, 2]
    assert overlap.loc[overlap["width"] == "chance", "fc1"].tolist() == [pytest.approx(16.0)]
    hamming = pd.read_csv(out / "tables" / "section5_hamming.csv")
    assert hamming[["models", "widths"]].values.tolist() == [[6, 3]]
    activations = pd.read_csv(out / "tables" / "section5_activations.csv")
    assert sorted(activations["layer"].unique()) == ["fc1", "fc2"] and set(activations["runs"]) == {2}
    methods = ["random", "global_magnitude", "edge_popup"]
    stems = ["methods_ed_by_width", "fig7_8_tsne", *[f"methods_trajectories_{m}" for m in methods]]
    for stem in stems:
        assert (out / "figures" / f"{stem}.png").is_file()
    # Figures 1-6, the two extras and the exponent's, but Figure 6 (Glorot vs He) is left
    # out: no He runs
    assert not (out / "figures" / "fig6_ed_by_init.png").exists()
    assert "Figure 6 (Glorot vs He) is left out: no complete He runs" in text
    assert len(list((out / "figures").glob("*.png"))) == 8 + len(stems)
    assert text.startswith("# The propensity for density: report") and "## Key findings" in text
    # the key findings open with the exponent, its interval and, at two init seeds on one
    # data split, no verdict
    findings = text[text.index("## Key findings"):text.index("## Runs")]
    assert "- Glorot: propensity exponent b = " in findings and "95% CI" in findings
    assert "2 seed clusters by init seed, on one data split" in findings
    assert "Verdict: too few seeds (2) for a verdict" in findings
    assert findings.index("exponent") < findings.index("Row by row")
    exponent = pd.read_csv(out / "tables" / "exponent.csv")
    assert exponent[["n_runs", "n_widths", "n_clusters"]].values.tolist() == [[6, 3, 2]]


def test_unconverged_and_unreadable_runs_are_listed_and_the_switch_restores_them(tmp_path):
    tables = _synthetic().degenerate_tables()
    slow = tables.runs.assign(run_key="slow", status="max_epochs_reached", init_seed=1)
    runs = pd.concat([tables.runs, slow], ignore_index=True)
    trajectories = pd.concat(
        [tables.trajectories, tables.trajectories.assign(run_key="slow")], ignore_index=True
    )
    histories = pd.concat(
        [tables.histories, tables.histories.assign(run_key="slow")], ignore_index=True
    )
    for name, frame in (("runs", runs), ("trajectories", trajectories), ("histories", histories)):
        frame.to_parquet(tmp_path / f"{name}.parquet")
    (tmp_path / "collect_problems.txt").write_text("skipped /x/record.json: ValueError: bad\n")
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "report.md").read_text()
    excluded = pd.read_csv(tmp_path / "out" / "tables" / "excluded_runs.csv")
    assert excluded["reason"].str.startswith(("unconverged", "unreadable record")).all()
    assert "1 unconverged run(s) left out (`--include-unconverged` puts them back)" in text
    assert "unreadable record: /x/record.json: ValueError: bad" in text
    assert pd.read_csv(tmp_path / "out" / "tables" / "table2.csv")["n_runs"].tolist() == [1]
    out = tmp_path / "with"
    assert main([str(tmp_path), "--out", str(out), "--include-unconverged"]) == 0
    assert pd.read_csv(out / "tables" / "table2.csv")["n_runs"].tolist() == [2]
    assert len(pd.read_csv(out / "tables" / "excluded_runs.csv")) == 1  # the unreadable record


@pytest.mark.slow
def test_a_successful_report_of_every_method_prints_one_line_and_nothing_on_stderr(tmp_path):
    tables = _synthetic().criteria_tables()
    for name in ("runs", "trajectories", "histories"):
        getattr(tables, name).to_parquet(tmp_path / f"{name}.parquet")
    command = [sys.executable, "-m", "propensity.report", str(tmp_path), "--out", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""
    assert done.stdout.startswith("report: ") and done.stdout.count("\n") == 1


def test_a_library_warning_goes_to_the_log_not_the_console(tmp_path, capsys, monkeypatch):
    from propensity.report import command_line

    tables = _synthetic().degenerate_tables()
    for name in ("runs", "trajectories", "histories"):
        getattr(tables, name).to_parquet(tmp_path / f"{name}.parquet")
    real = command_line.build_report

    def warns(*args, **kwargs):
        for _ in range(2):
            warnings.warn("Precision loss occurred in moment calculation", RuntimeWarning, stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(command_line, "build_report", warns)
    out = tmp_path / "out"
    assert main([str(tmp_path), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    assert f"1 library warning(s) in {out / 'warnings.log'}" in printed.out
    assert "RuntimeWarning: Precision loss" in (out / "warnings.log").read_text()
    monkeypatch.setattr(command_line, "build_report", real)
    assert main([str(tmp_path), "--out", str(out)]) == 0
    assert not (out / "warnings.log").exists() and "library warning" not in capsys.readouterr().out
