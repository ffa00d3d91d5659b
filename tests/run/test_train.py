"""The training recipe end to end, in-process through the composed Hydra config."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from propensity.config.validation import ConfigError
from propensity.run.recipe import train
from propensity.storage.records import RunRecord
from tests.conftest import FAST, run_directory


def test_run_writes_record_history_and_trajectory(compose_cfg) -> None:
    cfg = compose_cfg(*FAST)
    record = train(cfg)
    run_dir = run_directory(cfg)

    assert record.status == "finished"
    saved = RunRecord.load(run_dir / "record.json")
    assert saved == record
    assert saved.total_weights == sum(saved.weights_per_layer.values()) == 64 * 30 + 30 * 10 + 100
    assert saved.model == "mlp" and saved.width == 0.1 and saved.stop_epoch == 2
    assert saved.num_classes == 10  # chance, for the report, is 1 / num_classes
    assert 0 < saved.effective_density <= 1
    assert saved.unpruned_weights == round(saved.effective_density * saved.total_weights)
    assert set(saved.ed_by_threshold) == {"0.01", "0.02", "0.05", "0.1"}
    assert saved.test_acc is not None and saved.versions["torch"]

    history = pd.read_csv(run_dir / "history.csv")
    assert history.epoch.tolist() == [1, 2]
    trajectory = pd.read_csv(run_dir / "trajectory.csv")
    assert trajectory.level.iloc[0] == 0 and trajectory.density.iloc[0] == 1.0
    assert trajectory.val_acc.iloc[0] == pytest.approx(saved.base_val_acc)
    assert trajectory.density.iloc[-1] == 0.0  # the paper's schedule prunes to nothing


def test_same_config_gives_bit_identical_numbers(compose_cfg, tmp_path: Path) -> None:
    first = train(compose_cfg(*FAST, "init=he"))
    second = train(compose_cfg(*FAST, "init=he", f"results_dir={tmp_path / 'again'}"))
    keys = ("train_loss", "val_loss", "val_acc", "test_acc", "effective_density", "ed_by_threshold")
    assert {k: getattr(first, k) for k in keys} == {k: getattr(second, k) for k in keys}


def test_seeds_change_the_numbers(compose_cfg) -> None:
    a = train(compose_cfg(*FAST))
    b = train(compose_cfg(*FAST, "init_seed=1"))
    assert a.run_key != b.run_key and a.train_loss != b.train_loss


def test_finished_run_is_skipped(compose_cfg) -> None:
    cfg = compose_cfg(*FAST)
    first = train(cfg)
    again = train(cfg)
    assert again.finished_at == first.finished_at and again.wall_time_s == first.wall_time_s


def test_val_loss_min_run(compose_cfg) -> None:
    record = train(compose_cfg(*FAST, "stop=val_loss_min", "stop.max_epochs=3"))
    history = pd.read_csv(run_directory(compose_cfg(*FAST, "stop=val_loss_min",
                                                    "stop.max_epochs=3")) / "history.csv")
    assert record.stop_epoch == int(history.epoch[history.val_loss.idxmin()])
    assert record.val_loss == pytest.approx(history.val_loss.min())


@pytest.mark.parametrize(
    ("override", "key"),
    [("width=0", "width"), ("width=-1", "width"), ("init_seed=-1", "init_seed"),
     ("data_seed=-2", "data_seed"), ("pruning.threshold_mode=median", "pruning.threshold_mode"),
     ("stop.max_epochs=0", "stop.max_epochs"), ("optim.lr=0", "optim.lr")],
)
def test_bad_config_fails_before_training(compose_cfg, override: str, key: str) -> None:
    cfg = compose_cfg(*FAST, override)
    with pytest.raises(ConfigError, match=key) as info:
        train(cfg)
    assert "\n" not in str(info.value)
    assert not Path(cfg.results_dir).exists()


def test_val_size_larger_than_training_set_names_the_key(compose_cfg) -> None:
    cfg = compose_cfg(*FAST, "data.val_size=5000")
    with pytest.raises(ValueError, match=r"data\.val_size"):
        train(cfg)
    assert not run_directory(cfg).exists()  # refused by the pre-flight, before any data loads


def test_wandb_offline_run_writes_summary_and_trajectory_table(compose_cfg) -> None:
    """wandb 0.31 keeps an offline run in a binary ``run-*.wandb`` log (no summary JSON), so
    the summary and config keys are looked up in that log and the table in its media file."""
    cfg = compose_cfg(*FAST, "logger=wandb")
    train(cfg)
    run_dir = run_directory(cfg)
    logs = list(Path(cfg.results_dir).glob("wandb/offline-run-*/run-*.wandb"))
    assert len(logs) == 1
    stream = logs[0].read_bytes()
    for key in (b"effective_density", b"unpruned_weights", b"total_weights", b"base_val_acc",
                b"pruning/accuracy_vs_density", b"init_seed", b"width", b"run_key"):
        assert key in stream, key
    tables = list(Path(cfg.results_dir).glob(
        "wandb/offline-run-*/files/media/table/pruning/trajectory_*.json"))
    assert len(tables) == 1
    table = json.loads(tables[0].read_text())
    trajectory = pd.read_csv(run_dir / "trajectory.csv")
    assert table["columns"] == list(trajectory.columns)
    assert len(table["data"]) == len(trajectory)


def test_baselines_share_the_trajectory_and_report_their_ed(compose_cfg) -> None:
    cfg = compose_cfg(*FAST, "pruning.baselines=[random,global_magnitude,edge_popup]",
                      "pruning.edge_popup.densities=[0.5,0.2]", "pruning.edge_popup.epochs=1")
    record = train(cfg)
    trajectory = pd.read_csv(run_directory(cfg) / "trajectory.csv")
    methods = ["magnitude", "random", "global_magnitude", "edge_popup"]
    assert list(trajectory.method.unique()) == methods
    assert set(record.ed_by_method) == set(methods)
    assert record.ed_by_method["magnitude"]["effective_density"] == record.effective_density
    assert record.pruning_method == "magnitude" and record.schedule == "original"


def test_artifacts_are_written_when_asked(compose_cfg) -> None:
    cfg = compose_cfg(*FAST, "artifacts.weights=true", "artifacts.correctness=true",
                      "artifacts.activations=true")
    train(cfg)
    names = {p.name for p in (run_directory(cfg) / "artifacts").iterdir()}
    assert {"weights_init.safetensors", "weights_final.safetensors", "correctness.npz",
            "activations.npz"} <= names


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_run_matches_the_record_schema(compose_cfg) -> None:
    record = train(compose_cfg(*FAST, "trainer.accelerator=gpu", "model=conv2"))
    assert record.status == "finished" and 0 < record.effective_density <= 1


def test_counting_gpus_for_the_launcher_leaves_cuda_uninitialised(
    compose_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The joblib parent resolves ``n_jobs`` before forking workers: it must not own CUDA."""
    from propensity.launch.devices import worker_count

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    worker_count()
    assert compose_cfg(*FAST, "launcher=gpus").device_from_job is True
    assert not torch.cuda.is_initialized()


def test_diverged_run_stops_and_never_gets_an_ed(compose_cfg) -> None:
    cfg = compose_cfg(*FAST, "optim.lr=1e30", "stop.max_epochs=5")
    record = train(cfg)
    assert record.status == "diverged" and "loss" in record.error
    assert record.effective_density is None
    assert not (run_directory(cfg) / "trajectory.csv").exists()
    assert len(pd.read_csv(run_directory(cfg) / "history.csv")) <= 1
    assert train(cfg).finished_at == record.finished_at  # deterministic: a rerun skips it


def test_debug_run_never_makes_the_real_run_skip(compose_cfg) -> None:
    debug = compose_cfg(*FAST, "debug=fdr")
    first = train(debug)
    assert run_directory(debug).parent.name == "debug"
    assert train(debug).finished_at != first.finished_at  # a debug run is never skipped
    real = train(compose_cfg(*FAST))
    assert real.status == "finished" and real.run_key != first.run_key
    assert real.epochs_trained == 2 and run_directory(compose_cfg(*FAST)).parent.name == "adhoc"


def test_untrained_run_gets_no_ed(compose_cfg) -> None:
    cfg = compose_cfg(*FAST, "optim.lr=1e-6", "stop.max_epochs=1")
    record = train(cfg)
    assert record.status == "untrained" and "chance" in record.error
    assert record.effective_density is None and record.ed_by_method == {}
    assert train(cfg).finished_at == record.finished_at  # deterministic: a rerun skips it


def test_truncated_checkpoint_is_moved_aside_and_the_run_starts_afresh(compose_cfg, caplog) -> None:
    cfg = compose_cfg(*FAST)
    train(cfg)
    run_dir = run_directory(cfg)
    last = run_dir / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    record = RunRecord.load(run_dir / "record.json")
    record.status = "running"  # as if killed before the run ended
    record.save(run_dir / "record.json")
    (run_dir / ".record.json.abc.tmp").write_text("{")  # an interrupted write
    again = train(cfg)
    assert again.status == "finished" and again.epochs_trained == 2
    assert f"unreadable checkpoint {last}" in caplog.text
    assert list((run_dir / "checkpoints").glob("last.ckpt.unreadable-*"))
    assert not list(run_dir.rglob("*.tmp"))
    assert torch.load(last, weights_only=False)["epoch"] == 1  # a new, readable checkpoint


@pytest.mark.parametrize("damage", ["wrong_type", "no_trajectory", "nan_history"])
def test_a_record_that_cannot_be_trusted_is_retrained(compose_cfg, damage: str) -> None:
    cfg = compose_cfg(*FAST)
    first = train(cfg)
    run_dir = run_directory(cfg)
    if damage == "wrong_type":
        data = json.loads((run_dir / "record.json").read_text())
        data["effective_density"] = "0.68"
        (run_dir / "record.json").write_text(json.dumps(data))
    elif damage == "no_trajectory":
        (run_dir / "trajectory.csv").unlink()
    else:
        history = pd.read_csv(run_dir / "history.csv")
        history.loc[1, "val_loss"] = float("nan")
        history.to_csv(run_dir / "history.csv", index=False)
    again = train(cfg)
    assert again.finished_at != first.finished_at and again.status == "finished"
    assert again.effective_density == first.effective_density  # the same run, retrained
    assert (run_dir / "trajectory.csv").is_file()


def test_record_keeps_threads_and_a_resume_uses_them(compose_cfg, monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    threads = torch.get_num_threads()
    cfg = compose_cfg(*FAST, "stop.max_epochs=3")
    assert train(cfg).cpu_threads == 1  # a small model's step is too little work to split
    run_dir = run_directory(cfg)
    record = RunRecord.load(run_dir / "record.json")
    record.status, record.cpu_threads = "interrupted", threads + 1
    record.save(run_dir / "record.json")
    try:
        assert train(cfg).cpu_threads == threads + 1
    finally:
        torch.set_num_threads(threads)
