"""A cohort's members are logged as their single runs: the same experiment loggers, metric
names and summaries, one progress line per cohort epoch."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from propensity.run.recipe import train, train_cohort
from propensity.storage.records import RunRecord
from tests.conftest import FAST, run_directory
from tests.engines.test_loggers import read_offline_run

SEEDS = [(0, 0), (1, 1)]


def _runs(results: Path) -> dict[str, SimpleNamespace]:
    """Every offline W&B run under ``<results>/wandb/`` by display name."""
    runs = [read_offline_run(path) for path in results.glob("wandb/offline-run-*/run-*.wandb")]
    return {run.run.display_name: run for run in runs}


def test_each_member_is_a_wandb_run_of_its_own(compose_cfg) -> None:
    cfgs = [compose_cfg(*FAST, "logger=wandb", f"init_seed={i}", f"data_seed={d}") for i, d in SEEDS]
    records = train_cohort(cfgs)
    runs = _runs(Path(cfgs[0].results_dir))
    assert set(runs) == {r.run_key for r in records}
    for cfg, record in zip(cfgs, records, strict=True):
        run = runs[record.run_key]
        assert {k: v for k, v in run.config.items() if k != "_wandb"} == {"run_key": record.run_key,
                                                                          **record.config}
        saved = RunRecord.load(run_directory(cfg) / "record.json").to_dict()
        for key in ("status", "effective_density", "cohort_size", "stop_epoch", "ed_by_method"):
            assert run.summary[key] == saved[key], key
        epochs = [row for row in run.rows if "train/loss" in row]
        history = pd.read_csv(run_directory(cfg) / "history.csv")
        assert [row["epoch"] for row in epochs] == [0, 1]
        assert [row["train/loss"] for row in epochs] == pytest.approx(history.train_loss.tolist())
        assert [row["val/acc"] for row in epochs] == pytest.approx(history.val_acc.tolist())
        assert any("test/acc" in row for row in run.rows)
        panel = run.config["_wandb"]["visualize"]["pruning/accuracy_vs_density"]["panel_config"]
        assert panel["fieldSettings"] == {"x": "density", "y": "val_acc", "stroke": "method"}


def test_csv_metrics_have_the_single_runs_names(compose_cfg, tmp_path) -> None:
    cfgs = [compose_cfg(*FAST, "logger=csv", f"init_seed={i}", f"data_seed={d}") for i, d in SEEDS]
    train_cohort(cfgs)
    single = compose_cfg(*FAST, "logger=csv", f"results_dir={tmp_path / 'single'}")
    train(single)
    expected = pd.read_csv(run_directory(single) / "lightning_logs" / "metrics.csv")
    for cfg in cfgs:
        logged = pd.read_csv(run_directory(cfg) / "lightning_logs" / "metrics.csv")
        assert sorted(logged.columns) == sorted(expected.columns)
        epochs = logged.dropna(subset=["train/loss"])
        history = pd.read_csv(run_directory(cfg) / "history.csv")
        assert epochs.epoch.tolist() == epochs.step.tolist() == [0, 1]
        assert epochs["train/loss"].tolist() == pytest.approx(history.train_loss.tolist())
        assert logged["pruning/density"].notna().any() and logged["test/acc"].notna().any()


def test_progress_is_one_line_per_cohort_epoch(compose_cfg, caplog) -> None:
    cfgs = [compose_cfg(*FAST, f"init_seed={i}", f"data_seed={d}") for i, d in SEEDS]
    with caplog.at_level(logging.INFO, logger="propensity"):
        train_cohort(cfgs)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert "2 of 2 members training" in lines[0] and lines[-1].endswith("<=0s left")
