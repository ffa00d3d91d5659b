"""The resumption checkpoint: one contract for a single run and a cohort (section 3.1 runs are long).

A run is resumable at every epoch boundary. Its state lives in one file, written atomically
beside itself (`propensity.storage.atomic`: a job killed mid-save leaves the previous file),
resumed only with ``resume=true`` (debug runs never resume), and trusted only when it reads
back whole: an unreadable file (a truncated copy, a full disk) is moved aside with one warning
and the run starts afresh instead of failing on every rerun.

Where it lives:
- one run trained by Lightning: ``<run_dir>/checkpoints/last.ckpt``, Lightning's format; it
  stays after the run ends, as the trained model (``logger.log_model`` uploads it);
- a cohort: ``<results_dir>/<name>/cohorts/<digest>/last.pt``, one file for all members because
  the stacked optimiser state and the epoch are the cohort's, where ``<digest>`` hashes the
  members' run keys in order (``members.json`` lists them). A rerun of the same unfinished
  members continues from it; other members (another ``cohort`` size, other seeds) have no
  checkpoint of their own and start afresh, saying so. It is removed once all its members'
  records are terminal: nothing will resume from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from propensity.storage.atomic import write_atomic, write_text_atomic
from propensity.storage.records import TERMINAL, load_record

log = logging.getLogger("propensity")
RUN_CHECKPOINT = Path("checkpoints") / "last.ckpt"
COHORTS = "cohorts"


class Checkpoint:
    """The one resumption file of the runs `run_keys` (see the module docstring)."""

    def __init__(self, path: Path, run_keys: Sequence[str]) -> None:
        self.path = Path(path)
        self.run_keys = list(run_keys)

    @classmethod
    def of_run(cls, run_dir: Path, run_key: str) -> Checkpoint:
        """A single run's checkpoint, inside its folder."""
        return cls(Path(run_dir) / RUN_CHECKPOINT, [run_key])

    @classmethod
    def of_cohort(cls, experiment_dir: Path, run_keys: Sequence[str]) -> Checkpoint:
        """A cohort's checkpoint, beside its members' run folders in `experiment_dir`."""
        digest = hashlib.sha256("\n".join(run_keys).encode()).hexdigest()[:10]
        return cls(Path(experiment_dir) / COHORTS / digest / "last.pt", run_keys)

    @property
    def is_cohort(self) -> bool:
        return self.path.parent.parent.name == COHORTS

    def readable(self) -> Path | None:
        """The file, if it loads; else move it aside with one warning and return None."""
        import torch

        if not self.path.is_file():
            return None
        try:
            torch.load(self.path, map_location="cpu", weights_only=self.is_cohort, mmap=True)
        except Exception as error:  # any failure to read it means it cannot resume a run
            aside = self.set_aside(f"unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
            log.warning("unreadable checkpoint %s (%s: %s) moved to %s; training afresh",
                        self.path, type(error).__name__,
                        str(error).splitlines()[0] if str(error) else "", aside.name)
            return None
        return self.path

    def set_aside(self, suffix: str) -> Path:
        """Move the file to ``<name>.<suffix>`` (kept for inspection, never resumed from)."""
        aside = self.path.with_name(f"{self.path.name}.{suffix}")
        if self.path.is_file():
            self.path.replace(aside)
        return aside

    def load(self) -> dict[str, Any] | None:
        """A cohort's saved state (plain tensors, read with ``weights_only``), or None with the
        reason logged: no file, an unreadable one, or one that holds other members."""
        import torch

        if not self.path.is_file():
            self._say_if_members_changed()
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # an unreadable file is no reason to stop: retrain
            log.warning("cannot read %s (%s); retraining the cohort from scratch", self.path, error)
            return None
        if state.get("run_keys") != self.run_keys:
            log.warning("%s holds other members; retraining the cohort from scratch", self.path)
            return None
        return state

    def save(self, state: dict[str, Any]) -> None:
        """Write a cohort's `state` atomically, with the run keys and the thread count."""
        import torch

        folder = self.path.parent
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(folder / "members.json", json.dumps(self.run_keys, indent=2) + "\n")
        state = {**state, "run_keys": self.run_keys, "cpu_threads": torch.get_num_threads()}
        write_atomic(self.path, lambda tmp: torch.save(state, tmp))

    def remove_finished(self) -> None:
        """Remove every cohort checkpoint beside this one (this one, or one left by an earlier
        set of members) whose members all have a terminal record: none will train again."""
        root = self.path.parent.parent
        for listing in sorted(root.glob("*/members.json")):
            keys = _listed(listing)
            if keys is None:
                continue
            records = [load_record(root.parent / key / "record.json")[0] for key in keys]
            if all(r is not None and r.status in TERMINAL for r in records):
                shutil.rmtree(listing.parent, ignore_errors=True)

    def _say_if_members_changed(self) -> None:
        for listing in sorted(self.path.parent.parent.glob("*/members.json")):
            before = _listed(listing)
            if before and set(before) & set(self.run_keys) and before != self.run_keys:
                log.info("the unfinished members changed since %s (%d then, %d now): retraining "
                         "them from scratch", listing.parent, len(before), len(self.run_keys))
                return


def _listed(listing: Path) -> list[str] | None:
    try:
        keys = json.loads(listing.read_text())
    except (OSError, ValueError):
        return None
    return keys if isinstance(keys, list) else None
