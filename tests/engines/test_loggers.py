"""W&B as its users expect it, checked offline by reading the run's own transaction log."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from propensity.collect.from_wandb import record_dict
from propensity.collect.tables import record_from_json
from propensity.run.recipe import train
from propensity.storage.records import RunRecord
from tests.conftest import FAST, run_directory

_BLOCK, _HEADER = 32768, 7  # wandb's LevelDB-style log: 32 KiB blocks, 7-byte record headers


def wandb_records(path: Path) -> list[Any]:
    """The protobuf records of an offline run's ``run-*.wandb`` file (wandb 0.31 keeps no
    JSON summary offline; its Go core writes this log and `wandb sync` uploads it)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    chunks, partial, pos = [], b"", _HEADER
    while pos + _HEADER <= len(data):
        if _BLOCK - pos % _BLOCK < _HEADER:  # too little room left: the block is padded
            pos += _BLOCK - pos % _BLOCK
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + _HEADER])
        chunk, pos = data[pos + _HEADER:pos + _HEADER + length], pos + _HEADER + length
        if kind in (1, 2):  # full record, or the first part of one
            partial = chunk
        elif kind in (3, 4):  # middle or last part
            partial += chunk
        if kind in (1, 4):
            chunks.append(partial)
    records = []
    for raw in chunks:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        records.append(record)
    return records


def _apply(target: dict[str, Any], updates: Any) -> None:
    for item in updates:
        path = list(item.nested_key) or [item.key]
        node = target
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = json.loads(item.value_json)


def read_offline_run(log: Path) -> SimpleNamespace:
    """One offline W&B run file: its run, config, summary, artifacts and the rows it logged."""
    run, config, summary, artifacts, rows = None, {}, {}, [], []
    for record in wandb_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = record.run
        elif kind == "config":
            _apply(config, record.config.update)
        elif kind == "summary":
            _apply(summary, record.summary.update)
        elif kind == "artifact":
            artifacts.append(record.artifact)
        elif kind == "history":
            row: dict[str, Any] = {}
            _apply(row, record.history.item)
            rows.append(row)
    return SimpleNamespace(run=run, config=config, summary=summary, artifacts=artifacts, rows=rows)


def offline_run(results_dir: Path) -> SimpleNamespace:
    """The one offline run under ``<results_dir>/wandb/``."""
    [log] = results_dir.glob("wandb/offline-run-*/run-*.wandb")
    return read_offline_run(log)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunRecord, SimpleNamespace, Path]:
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF

    results = tmp_path_factory.mktemp("wandb") / "results"
    overrides = [f"results_dir={results}", *FAST, "logger=wandb", "logger.log_model=true",
                 "tags=[smoke,ci]", "pruning.baselines=[random]"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    record = train(cfg)
    return record, offline_run(results), run_directory(cfg)


def test_run_is_a_training_job_tagged_and_grouped_by_experiment(logged) -> None:
    record, wb, _ = logged
    assert wb.run.job_type == "train"
    assert list(wb.run.tags) == ["smoke", "ci"]
    assert wb.run.run_group == record.experiment == "adhoc"
    assert wb.run.display_name == record.run_key


def test_config_is_the_full_resolved_config_nested(logged) -> None:
    record, wb, _ = logged
    config = {k: v for k, v in wb.config.items() if k != "_wandb"}
    assert config == {"run_key": record.run_key, **record.config}
    assert config["pruning"]["step"] == record.config["pruning"]["step"]
    assert config["optim"]["lr"] == 0.05 and config["stop"]["name"] == "epochs"


def test_summary_holds_every_field_of_the_record(logged) -> None:
    _, wb, run_dir = logged
    saved = RunRecord.load(run_dir / "record.json").to_dict()
    expected = {k: v for k, v in saved.items()
                if v is not None and k not in ("config", "traceback", "wall_time_s", "finished_at")}
    for key in ("ed_by_threshold", "never_degraded", "stop_epoch", "ed_by_method", "status"):
        assert key in expected
    for key, value in expected.items():
        wanted = pytest.approx(value) if isinstance(value, float) else value
        assert wb.summary[key] == wanted, key
    assert set(wb.summary["ed_by_method"]) == {"magnitude", "random"}


def test_trajectory_chart_draws_one_line_per_method(logged) -> None:
    _, wb, _ = logged
    panel = wb.config["_wandb"]["visualize"]["pruning/accuracy_vs_density"]["panel_config"]
    assert panel["fieldSettings"] == {"x": "density", "y": "val_acc", "stroke": "method"}


def test_log_model_uploads_the_final_checkpoint(logged) -> None:
    record, wb, _ = logged
    [model] = [a for a in wb.artifacts if a.type == "model"]
    assert model.name == f"model-{record.run_key}"
    assert json.loads(model.metadata)["original_filename"] == "last.ckpt"


def test_collect_reads_the_record_back_from_the_wandb_run(logged) -> None:
    record, wb, _ = logged
    run = SimpleNamespace(id=wb.run.run_id, project="propensity", state="finished",
                          config=wb.config, summary_metrics=wb.summary)
    back = record_from_json(record_dict(run))
    for key in ("run_key", "model", "lr", "width", "status", "effective_density",
                "unpruned_weights", "never_degraded", "ed_by_threshold", "ed_by_method"):
        assert getattr(back, key) == getattr(record, key), key
