"""The report's retraining section: from a results folder whose records carry regimes, and
absent, leaving the report as it was, when none do."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import propensity.report.build as build
from propensity.analysis.regimes import regime_exponents
from propensity.collect import load
from propensity.report import build_report
from propensity.report.command_line import main
from propensity.storage.records import RunRecord
from tests.analysis.synthetic import THRESHOLDS, regime_tables

FIELDS = {f.name for f in dataclasses.fields(RunRecord)}
SMALL = {"widths": (0.5, 1.0, 2.0), "data_seeds": (0, 1, 2, 3, 4)}


def _plain(value: object) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def write_results(tables: SimpleNamespace, root: Path) -> None:
    """Each run of `tables` as training leaves it: record.json (with ``ed_by_regime``),
    trajectory.csv and history.csv."""
    for _, row in tables.runs.iterrows():
        key = row["run_key"]
        run_dir = root / "mlp_sgd" / key
        run_dir.mkdir(parents=True)
        data = {name: _plain(value) for name, value in row.items() if name in FIELDS}
        data["ed_by_threshold"] = {str(t): _plain(row[f"ed_{t}"]) for t in THRESHOLDS}
        entries = tables.regimes[tables.regimes["run_key"] == key].set_index("regime")
        data["ed_by_regime"] = {regime: {c: _plain(v) for c, v in entry.drop("run_key").items()}
                                for regime, entry in entries.iterrows()}
        RunRecord.from_dict(data).save(run_dir / "record.json")
        for frame, name in ((tables.trajectories, "trajectory.csv"), (tables.histories, "history.csv")):
            frame[frame["run_key"] == key].drop(columns="run_key").to_csv(run_dir / name, index=False)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("results")
    write_results(regime_tables({"none": 1.0, "imp": 0.0, "imp_reinit": 0.5}, **SMALL), root)
    assert main([str(root), "--out", str(root / "report")]) == 0
    return root


def test_a_results_folder_with_regimes_gets_the_section(results: Path) -> None:
    text = (results / "report" / "report.md").read_text()
    findings = text[text.index("## Key findings"):text.index("## Runs")]
    assert "**Retraining.** Does retraining move the propensity exponent b toward 0" in findings
    assert "imp moves b down toward 0" in findings and "Irto, Goldt and Sanguinetti" in findings
    section = text[text.index("## Retraining regimes (beyond the paper)"):]
    for heading in ("### The propensity exponent per regime", "### Does b move?",
                    "### Table 2 per regime, side by side"):
        assert heading in section
    assert "15 analysed runs carry retraining regimes (none, imp, imp_reinit)" in section
    assert (results / "report" / "figures" / "regimes_core_size.png").stat().st_size > 1000
    saved = pd.read_csv(results / "report" / "tables" / "regimes_exponent.csv")
    collected = load(results)
    expected = regime_exponents(collected.runs, collected.regimes)
    assert saved["regime"].tolist() == ["none", "imp", "imp_reinit"]
    assert saved["b"].to_numpy() == pytest.approx(expected["b"].to_numpy())
    assert saved["b"].to_numpy() == pytest.approx([1.0, 0.0, 0.5], abs=0.08)
    display = pd.read_csv(results / "report" / "tables" / "regimes_table2_display.csv")
    assert list(display.columns[2:]) == [f"{r}: ED / null ED %" for r in ("none", "imp", "imp_reinit")]


def test_results_without_regimes_render_exactly_as_before(tmp_path: Path, monkeypatch) -> None:
    made = regime_tables({"none": 1.0}, **SMALL)
    plain = SimpleNamespace(runs=made.runs, trajectories=made.trajectories, histories=made.histories)
    # collected before regimes.parquet existed, or from records without ed_by_regime
    empty = SimpleNamespace(**vars(plain), regimes=made.regimes.iloc[0:0])
    now = build_report(empty, tmp_path / "now").read_text()
    monkeypatch.setattr(build, "SECTIONS", tuple(s for s in build.SECTIONS if s.__name__ != "regimes_part"))
    monkeypatch.setattr(build, "regime_key_findings", lambda tables: [])
    before = build_report(plain, tmp_path / "before").read_text()
    assert now == before and "Retraining" not in now

    def files(folder: Path) -> list[str]:
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))

    assert files(tmp_path / "now") == files(tmp_path / "before")
