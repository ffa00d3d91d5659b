"""The resumption checkpoint: its temporary stays in the run folder; an unreadable one is set aside."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from propensity.engines.lightning import AtomicCheckpointIO
from propensity.storage.checkpoints import Checkpoint


def test_temporary_is_written_beside_the_checkpoint_and_removed_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "checkpoints"
    seen: list[list[str]] = []

    def disk_full(obj: object, handle: object) -> None:
        seen.append(sorted(p.name for p in folder.iterdir()))
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError):
        AtomicCheckpointIO().save_checkpoint({"epoch": 1}, folder / "last.ckpt")
    [names] = seen
    assert len(names) == 1 and names[0].startswith(".last.ckpt.") and names[0].endswith(".tmp")
    assert list(folder.iterdir()) == []


def test_checkpoint_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"epoch": 3, "w": torch.ones(2)}, path)
    assert Checkpoint(path, ["k"]).readable() == path
    assert torch.load(path, weights_only=False)["epoch"] == 3


def test_truncated_checkpoint_is_named_and_moved_aside(tmp_path: Path, caplog) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with caplog.at_level(logging.WARNING, logger="propensity"):
        assert Checkpoint(path, ["k"]).readable() is None
    [aside] = tmp_path.glob("last.ckpt.unreadable-*")
    [line] = caplog.messages
    assert str(path) in line and aside.name in line and not path.exists()


def test_a_cohorts_checkpoint_is_named_by_its_members_in_order(tmp_path: Path) -> None:
    first = Checkpoint.of_cohort(tmp_path, ["a", "b"])
    assert first.is_cohort and first.path.parent.parent == tmp_path / "cohorts"
    assert first.path == Checkpoint.of_cohort(tmp_path, ["a", "b"]).path
    assert first.path != Checkpoint.of_cohort(tmp_path, ["b", "a"]).path
    assert not Checkpoint.of_run(tmp_path / "run", "a").is_cohort


def test_a_cohort_state_round_trips_and_refuses_other_members(tmp_path: Path) -> None:
    saved = Checkpoint.of_cohort(tmp_path, ["a", "b"])
    saved.save({"epoch": 2, "w": torch.arange(3.0)})
    state = saved.load()
    assert state is not None and state["epoch"] == 2 and torch.equal(state["w"], torch.arange(3.0))
    assert state["run_keys"] == ["a", "b"]
    other = Checkpoint(saved.path, ["a", "c"])
    assert other.load() is None
