"""One digits run with every criterion, the unit pruning and the shuffled controls (section 6):
each records an ED in record.json, trajectory.csv and runs.parquet, and the report shows them."""

from __future__ import annotations

import pandas as pd

from propensity.collect import collect
from propensity.pruning.registry import CONTROLS, METHODS
from propensity.report.build import build_report
from propensity.run.recipe import train
from propensity.storage.records import RunRecord
from tests.conftest import run_directory

NEW = [name for name in METHODS if name not in ("magnitude", "random", "global_magnitude", "edge_popup")]
RUN = ["data=digits", "width=0.5", "stop=epochs", "stop.max_epochs=3", "logger=none", "optim.lr=0.05",
       f"pruning.baselines=[{','.join(NEW)}]", "pruning.score_samples=128", "pruning.mask_seeds=2"]


def test_one_digits_run_records_every_criterion(compose_cfg, tmp_path):
    assert set(CONTROLS.values()) - {"random"} <= set(NEW) and "units" in NEW
    cfg = compose_cfg(*RUN)
    record = train(cfg)
    run_dir = run_directory(cfg)
    saved = RunRecord.load(run_dir / "record.json")
    assert record.status == "finished"
    assert list(saved.ed_by_method) == ["magnitude", *NEW]
    for name, fields in saved.ed_by_method.items():
        assert 0 <= fields["effective_density"] <= 1, name
        assert fields["unpruned_weights"] == round(fields["effective_density"] * saved.total_weights)
    assert 0 < saved.ed_by_method["units"]["unit_effective_density"] <= 1

    trajectory = pd.read_csv(run_dir / "trajectory.csv")
    assert list(trajectory["method"].unique()) == ["magnitude", *NEW]
    assert (trajectory.groupby("method")["level"].max() == 50).all()
    units = trajectory[trajectory["method"] == "units"]
    assert units["unit_density"].iloc[0] == 1.0 and units["unit_density"].notna().all()

    results = tmp_path / "results" / cfg.name
    collected = collect(results)
    collected.write(tmp_path / "tables")
    runs = pd.read_parquet(tmp_path / "tables" / "runs.parquet")
    for name in ["magnitude", *NEW]:
        assert runs[f"effective_density_{name}"].iloc[0] == saved.ed_by_method[name]["effective_density"]
    unit_ed = saved.ed_by_method["units"]["unit_effective_density"]
    assert runs["unit_effective_density_units"].iloc[0] == unit_ed

    report = build_report(collected, tmp_path / "report").read_text()
    assert "Criteria beyond magnitude" in report
    for name in ("snip_lamp", "obd_erk", "synflow_global", "units", "snip_lamp_shuffled"):
        assert f"| {name} " in report
