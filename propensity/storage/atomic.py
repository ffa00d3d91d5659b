"""Write a file so that readers see the old version or the new one, never a part of either.

A job of a multirun can be killed at any moment; every result file (``record.json``,
``history.csv``, ``trajectory.csv``, the section-5 artifacts, the collected tables) is
written to a temporary file beside its destination and renamed onto it, which is atomic on
one file system.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_atomic(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` on a temporary path beside `path`, then rename it onto `path`.

    The temporary file is ``.<name>.<random>.tmp``, the pattern `records.remove_temporaries`
    cleans up after a killed job (a writer that appends a missing suffix, as ``np.savez`` does
    to a path, must be given an open file instead). Readable by the group (mkstemp's 0600
    would hide results from collaborators) and synced to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically."""
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write `data` as indented JSON to `path` atomically (non-JSON values as their str)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
