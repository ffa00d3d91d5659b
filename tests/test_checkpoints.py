"""The resumption checkpoint: its temporary stays in the run folder; an unreadable one is set aside."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from propensity.checkpoints import AtomicCheckpointIO, readable_checkpoint


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
    assert readable_checkpoint(path) == path
    assert torch.load(path, weights_only=False)["epoch"] == 3


def test_truncated_checkpoint_is_named_and_moved_aside(tmp_path: Path, caplog) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"w": torch.ones(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with caplog.at_level(logging.WARNING, logger="propensity"):
        assert readable_checkpoint(path) is None
    [aside] = tmp_path.glob("last.ckpt.unreadable-*")
    [line] = caplog.messages
    assert str(path) in line and aside.name in line and not path.exists()
