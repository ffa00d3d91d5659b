"""`propensity.collect`: a results directory (or a mocked W&B project) into parquet tables."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from propensity.collect import collect, collect_wandb, load, main
from propensity.pruning.trajectory import Trajectory
from propensity.storage.records import RunRecord

DENSITIES = [1.0, 0.8, 0.64, 0.512]


def trajectory(method: str = "magnitude") -> Trajectory:
    return Trajectory(
        level=list(range(4)),
        density=DENSITIES,
        remaining_weights=[int(1000 * d) for d in DENSITIES],
        val_acc=[0.9, 0.9, 0.85, 0.5],
        val_loss=[0.3, 0.3, 0.4, 1.2],
        method=method,
    )


def make_run(
    root: Path, experiment: str, key: str, epochs: int = 3, status: str = "finished", **fields: Any
) -> Path:
    """A run directory as the training pipeline leaves it; finished runs are pruned."""
    run_dir = root / experiment / key
    record = RunRecord(
        run_key=key,
        experiment=experiment,
        status=status,
        model="mlp",
        width=2.0,
        init_seed=1,
        data_seed=0,
        total_weights=1000,
        weights_per_layer={"0": 600, "1": 400},
        epochs_trained=epochs,
        val_acc=0.9,
        config={"model": {"width": 2.0}},
        versions={"torch": "2.5"},
        traceback="Traceback ...",
        **fields,
    )
    if record.status == "finished":
        record.effective_density = 0.64
        record.unpruned_weights = 640
        record.ed_by_threshold = {"0.05": 0.512, "0.01": 0.64}
        record.ed_by_method = {
            "magnitude": {"effective_density": 0.64, "unpruned_weights": 640},
            "random": {"effective_density": 0.8, "unpruned_weights": 800},
        }
        trajectory().to_csv(run_dir / "trajectory.csv")
    record.save(run_dir / "record.json")
    history = pd.DataFrame(
        {
            "epoch": range(epochs),
            "train_loss": 1.0,
            "train_acc": 0.5,
            "val_loss": 0.5,
            "val_acc": 0.8,
        }
    )
    history.to_csv(run_dir / "history.csv", index=False)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"\0" * 8)
    return run_dir


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """Four good runs, a duplicate, two unreadable records and a run without trajectory."""
    root = tmp_path / "results"
    make_run(root, "mlp_sgd", "a1", finished_at="2026-01-01T00:00:00")
    two = make_run(root, "mlp_sgd", "a2")
    both = pd.concat([trajectory(m).to_frame() for m in ("magnitude", "random")])
    both.to_csv(two / "trajectory.csv", index=False)
    make_run(root, "mlp_sgd", "a3", status="running", epochs=0)
    make_run(root, "mlp_adam", "b1", status="failed", error="CUDA out of memory", epochs=1)
    # The same run copied into another folder, interrupted there: the finished copy counts.
    make_run(root, "copy/mlp_sgd", "a1", status="running", epochs=1)
    # A finished run whose trajectory was lost.
    (make_run(root, "mlp_adam", "b2") / "trajectory.csv").unlink()
    truncated = make_run(root, "mlp_adam", "bad1") / "record.json"
    truncated.write_text(truncated.read_text()[:40])
    wrong = make_run(root, "mlp_adam", "bad2") / "record.json"
    wrong.write_text(json.dumps({**json.loads(wrong.read_text()), "width": "wide"}))
    return root


def test_collect_counts_every_run_once_and_reports_problems(results: Path) -> None:
    collected = collect(results)
    runs = collected.runs
    assert sorted(runs["run_key"]) == ["a1", "a2", "a3", "b1", "b2"]
    assert runs.set_index("run_key").loc["a1", "status"] == "finished"
    assert collected.skipped == 2 and collected.duplicates == 1
    problems = "\n".join(collected.problems)
    assert len(collected.problems) == 4
    assert "bad1" in problems and "JSONDecodeError" in problems
    assert "bad2" in problems and "width='wide'" in problems
    assert "duplicate run a1" in problems and "copy" in problems
    assert f"missing {results / 'mlp_adam' / 'b2' / 'trajectory.csv'}" in problems
    assert collected.summary() == (
        f"collected 5 runs (3 finished, 1 failed, 1 running) from {results}; "
        "skipped 2 unreadable; 1 duplicates"
    )
    # The problems outlive the collection: the report lists the unreadable records.
    back = load(results)
    assert back.problems == collected.problems and back.skipped == 2


def test_runs_schema_flattens_ed_and_drops_mappings(results: Path) -> None:
    runs = collect(results).runs.set_index("run_key")
    for dropped in ("config", "versions", "weights_per_layer", "traceback"):
        assert dropped not in runs.columns
    assert runs.loc["b1", "error"] == "CUDA out of memory"
    assert runs.loc["a1", "run_dir"] == str((results / "mlp_sgd" / "a1").resolve())
    assert list(runs.columns[-6:]) == [
        "ed_0.01",
        "ed_0.05",
        "effective_density_magnitude",
        "unpruned_weights_magnitude",
        "effective_density_random",
        "unpruned_weights_random",
    ]
    assert runs.loc["a2", "effective_density_random"] == 0.8
    assert runs.loc["a2", "unpruned_weights_random"] == 800
    assert pd.isna(runs.loc["a3", "ed_0.01"])
    assert str(runs["unpruned_weights"].dtype) == "Int64"
    assert str(runs["stop_target_met"].dtype) == "boolean"


def test_trajectories_and_histories_come_from_kept_copies(results: Path) -> None:
    collected = collect(results)
    per_run = collected.trajectories.groupby("run_key").size().to_dict()
    assert per_run == {"a1": 4, "a2": 8}  # b2 lost its file, a3 and b1 were never pruned
    assert set(collected.trajectories.query("run_key == 'a2'")["method"]) == {"magnitude", "random"}
    assert list(collected.trajectories.columns) == [
        "run_key",
        "method",
        "level",
        "density",
        "remaining_weights",
        "val_acc",
        "val_loss",
    ]
    # a1's kept copy trained 3 epochs; the interrupted copy's single epoch is not added.
    assert collected.histories.groupby("run_key").size().to_dict() == {
        "a1": 3,
        "a2": 3,
        "b1": 1,
        "b2": 3,
    }


def test_parquet_round_trip_and_rerun_do_not_duplicate(results: Path, tmp_path: Path) -> None:
    first = collect(results, out=tmp_path / "tables")
    collect(results, out=tmp_path / "tables")  # again over the same output: overwritten
    again = collect(results)  # outputs inside the results dir are not scanned as runs
    back = load(tmp_path / "tables")
    pd.testing.assert_frame_equal(back.runs, first.runs)
    pd.testing.assert_frame_equal(back.trajectories, first.trajectories)
    pd.testing.assert_frame_equal(back.histories, first.histories)
    assert len(load(results).runs) == len(again.runs) == 5
    assert not list((tmp_path / "tables").glob(".*tmp"))
    with pytest.raises(FileNotFoundError, match="missing"):
        load(tmp_path)


def test_unparsable_and_incomplete_csvs_are_reported_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "results"
    (make_run(root, "e", "r1") / "history.csv").write_bytes(b"\xff\xfe\x00garbage")
    (make_run(root, "e", "r2") / "trajectory.csv").write_text("")
    (make_run(root, "e", "r3") / "trajectory.csv").write_text("foo,bar\n1,2\n")
    collected = collect(root)
    assert len(collected.runs) == 3 and collected.skipped == 0
    assert sorted(p.split()[1].split("/")[-2] for p in collected.problems) == ["r1", "r2", "r3"]
    assert all(p.startswith("unreadable ") for p in collected.problems)
    assert collected.trajectories["run_key"].tolist() == ["r1"] * 4


def test_empty_results_dir_writes_empty_tables(tmp_path: Path) -> None:
    collected = collect(tmp_path)
    assert collected.summary().startswith("collected 0 runs (none)")
    assert "run_key" in load(tmp_path).trajectories.columns


def test_cli(
    results: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="propensity.collect"):
        assert main([str(results), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.startswith("collected 5 runs (3 finished")
    assert len(caplog.records) == 4
    assert len(load(tmp_path / "out").runs) == 5
    assert main([str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: results directory {tmp_path / 'nowhere'} does not exist"
    assert main([str(results), "--wandb", "no-slash"]) == 2


class FakeFile:
    def __init__(self, name: str, content: str) -> None:
        self.name, self.content = name, content

    def download(self, root: str = ".", replace: bool = False, **_: Any):
        path = Path(root) / self.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.content)
        return path.open()


@dataclass
class FakeRun:
    """The parts of `wandb.apis.public.Run` that `collect_wandb` reads."""

    id: str
    config: dict
    summary_metrics: dict
    history: list[dict]
    files: dict[str, str]
    state: str = "finished"

    @property
    def path(self) -> list[str]:
        return ["ent", "proj", self.id]

    def file(self, name: str) -> FakeFile:
        return FakeFile(name, self.files[name])

    def scan_history(self, **_: Any) -> list[dict]:
        return self.history


# Flat and nested keys, a W&B value wrapper, and a suffix ("stop") whose type does not fit.
WANDB_CONFIG = {"experiment": "mlp_sgd", "model": "mlp", "width": {"value": 4}, "optim.lr": 0.1}
WANDB_CONFIG |= {"data": {"batch_size": 32}, "trainer": {"stop": 5}, "_wandb": {"cli": "x"}}
WANDB_HISTORY = [
    {"epoch": 0, "train/loss": 1.0, "_step": 0},
    {"epoch": 0, "val/acc": 0.7},
    {"epoch": 1, "train/loss": 0.5},
    {"epoch": 1, "val/acc": 0.8},
    {"x": 1},
]


def wandb_run(
    run_id: str, key: str, with_table: bool = True, state: str = "finished", **summary: Any
) -> FakeRun:
    import wandb

    table = wandb.Table(dataframe=trajectory().to_frame())
    path = f"media/table/pruning/trajectory_3_{run_id}.table.json"
    entry = {"_type": "table-file", "path": path, "ncols": 6, "nrows": 4}
    summary = {"effective_density": 0.5, "unpruned_weights": 50, "ed_0.01": 0.5, **summary}
    if with_table:
        summary["pruning/trajectory"] = entry
    table_json = wandb.util.json_dumps_safer(table._to_table_json())
    config = {**WANDB_CONFIG, "run_key": key}
    return FakeRun(run_id, config, summary, WANDB_HISTORY, {path: table_json}, state=state)


class FakeApi:
    def __init__(self, runs: list[FakeRun] | Exception) -> None:
        self._runs = runs

    def runs(self, path: str) -> list[FakeRun]:
        assert path == "ent/proj"
        if isinstance(self._runs, Exception):
            raise self._runs
        return self._runs


def test_collect_wandb_builds_the_same_tables(tmp_path: Path) -> None:
    api = FakeApi(
        [
            wandb_run("w1", "k1"),
            wandb_run("w2", "k1", state="crashed"),  # the same run_key resumed: counted once
            wandb_run("w3", "k3", with_table=False),
            wandb_run("w4", "k4", total_weights="many"),
        ]
    )
    collected = collect_wandb("ent/proj", tmp_path, api=api)
    runs = collected.runs.set_index("run_key")
    assert list(runs.index) == ["k1", "k3"]
    assert runs.loc["k1", "run_dir"] == "wandb:ent/proj/w1"
    assert runs.loc["k1", "lr"] == 0.1 and runs.loc["k1", "width"] == 4.0
    assert runs.loc["k1", "batch_size"] == 32 and runs.loc["k1", "stop"] == ""
    assert runs.loc["k1", "ed_0.01"] == 0.5 and runs.loc["k1", "unpruned_weights"] == 50
    assert (collected.skipped, collected.duplicates) == (1, 1)
    assert any("total_weights='many'" in p for p in collected.problems)
    assert any(p.startswith("missing trajectory of wandb:ent/proj/w3") for p in collected.problems)
    assert collected.trajectories["run_key"].tolist() == ["k1"] * 4
    pd.testing.assert_frame_equal(
        collected.trajectories.drop(columns="run_key"),
        trajectory().to_frame(),
        check_dtype=False,
    )
    history = collected.histories.query("run_key == 'k1'")
    assert history[["epoch", "train_loss", "val_acc"]].values.tolist() == [
        [0, 1.0, 0.7],
        [1, 0.5, 0.8],
    ]
    assert len(load(tmp_path).runs) == 2


def test_cli_wandb_uses_public_api_and_reports_network_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import wandb

    monkeypatch.setattr(wandb, "Api", lambda: FakeApi([wandb_run("w1", "k1")]))
    assert main([str(tmp_path / "new"), "--wandb", "ent/proj"]) == 0
    assert "collected 1 runs (1 finished) from wandb:ent/proj" in capsys.readouterr().out
    error = wandb.errors.CommError("Could not reach api.wandb.ai\nretrying ...")
    monkeypatch.setattr(wandb, "Api", lambda: FakeApi(error))
    assert main([str(tmp_path / "new"), "--wandb", "ent/proj"]) == 1
    err = capsys.readouterr().err
    assert (
        err == "error: cannot read W&B project ent/proj: CommError: Could not reach api.wandb.ai\n"
    )


def test_duplicate_keeps_latest_finished_copy(tmp_path: Path) -> None:
    root = tmp_path / "r"
    old = make_run(root, "e", "k", finished_at="2026-01-01T00:00:00", val_loss=2.0)
    shutil.copytree(old, root / "f" / "k")
    make_run(root, "g", "k", finished_at="2026-02-01T00:00:00", val_loss=1.0)
    collected = collect(root)
    assert collected.runs["val_loss"].tolist() == [1.0] and collected.duplicates == 2


def test_relative_results_path_is_found_from_a_notebooks_folder(tmp_path: Path) -> None:
    """A kernel runs in notebooks/; the path was meant from where jupyter was started."""
    from propensity.collect import results_path

    (tmp_path / "results" / "quickstart").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    found = results_path("results/quickstart", start=tmp_path / "notebooks")
    assert found == tmp_path / "results" / "quickstart"
    assert results_path(tmp_path / "elsewhere") == tmp_path / "elsewhere"  # absolute: as given
    with pytest.raises(FileNotFoundError, match=r"results/nowhere not found in .*absolute path"):
        results_path("results/nowhere", start=tmp_path / "notebooks")


IMP = {"effective_density": 0.262, "ed_last_pass": 0.328, "level": 6, "unpruned_weights": 262,
       "never_degraded": False, "matching_density": 0.21, "base_val_acc": 0.9,
       "levels_measured": 21}


def test_regimes_table_has_a_row_per_run_and_regime(tmp_path: Path) -> None:
    root = tmp_path / "results"
    make_run(root, "e", "with", ed_by_regime={
        "none": {**IMP, "effective_density": 0.64, "level": 2, "unpruned_weights": 640},
        "imp": IMP,
        "finetune": {**IMP, "level": None, "monotone_at_bracket": True, "trace": [1, 2]},
    })
    make_run(root, "e", "without")
    collected = collect(root)
    regimes = collected.regimes
    assert regimes[["run_key", "regime"]].values.tolist() == [
        ["with", "none"], ["with", "imp"], ["with", "finetune"]]
    assert list(regimes.columns) == [
        "run_key", "regime", "effective_density", "ed_last_pass", "level", "unpruned_weights",
        "never_degraded", "matching_density", "base_val_acc", "levels_measured",
        "monotone_at_bracket"]  # a list inside an entry is dropped
    imp = regimes.set_index("regime").loc["imp"]
    assert imp["effective_density"] == 0.262 and imp["matching_density"] == 0.21
    assert str(regimes["level"].dtype) == "Int64" and pd.isna(regimes["level"].iloc[2])
    assert str(regimes["never_degraded"].dtype) == "boolean"
    assert str(regimes["unpruned_weights"].dtype) == "Int64"
    # the runs table is as before: no regime column enters it
    assert not [c for c in collected.runs.columns if "imp" in c or "regime" in c]
    pd.testing.assert_frame_equal(load(root).regimes, regimes)


def test_results_without_regimes_collect_and_old_tables_load(results: Path) -> None:
    collected = collect(results)
    assert collected.regimes.empty and "regime" in collected.regimes.columns
    (results / "regimes.parquet").unlink()  # collected before the regimes table existed
    back = load(results)
    assert back.regimes.empty and list(back.regimes.columns) == list(collected.regimes.columns)
    pd.testing.assert_frame_equal(back.runs, collected.runs)
