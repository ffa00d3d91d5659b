"""The resumption checkpoint of a run: written atomically inside its run folder, healed when unreadable.

Lightning's own atomic save goes through fsspec, whose temporary file lives in the system
temp folder, so a job killed mid-save leaks a checkpoint there. Here the temporary sits
beside ``checkpoints/last.ckpt`` (and is removed at the next start, see
`propensity.records.remove_temporaries`). A checkpoint that cannot be read (a truncated file
from a full disk, a copy cut short) is moved aside with a one-line warning and the run starts
afresh, instead of failing on every rerun.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins import TorchCheckpointIO

log = logging.getLogger("propensity")


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose temporary file is in the checkpoint's own folder."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def readable_checkpoint(path: Path) -> Path | None:
    """`path` if it holds a loadable checkpoint; else move it aside, warn in one line, None."""
    if not path.is_file():
        return None
    try:
        torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as error:  # any failure to read it means it cannot resume a run
        aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
        path.replace(aside)
        log.warning("unreadable checkpoint %s (%s: %s) moved to %s; training afresh",
                    path, type(error).__name__, str(error).splitlines()[0] if str(error) else "",
                    aside.name)
        return None
    return path
