"""A chunk's records from ``running`` to their end, whatever ends them (section 3's runs are long).

Before anything trains, each member's folder is healed and its record says ``running``
(`propensity.run.resumption`); the chunk then runs with SIGTERM and Ctrl-C turned into
`Interrupted`. However it ends, every record is saved with its wall time: ``interrupted``
after a signal (and the signal re-raised, so the job exits 128 + its number), ``failed``
with the traceback after an error, else whatever the recipe concluded. One log line a
member says how it ended.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import time
import traceback
from collections.abc import Iterator, Sequence

from propensity.config.settings import RunSettings
from propensity.launch.signals import Interrupted, interruptible
from propensity.run.outcome import fmt
from propensity.run.resumption import heal, new_record, now, use_threads
from propensity.storage.records import RunRecord

log = logging.getLogger("propensity")


@contextlib.contextmanager
def lifecycle(members: Sequence[RunSettings]) -> Iterator[list[RunRecord]]:
    """Yield the chunk's ``running`` records; save them, whatever ends the block."""
    previous = [heal(m) for m in members]
    records = [new_record(m, p) for m, p in zip(members, previous, strict=True)]
    for member, record, before in zip(members, records, previous, strict=True):
        use_threads(record, before if member.resume else None)
        record.cohort_size = len(members)
        record.save(member.run_dir / "record.json")
    started = time.perf_counter()
    try:
        with interruptible():
            yield records
    except (Interrupted, KeyboardInterrupt) as error:
        _all(records, "interrupted", str(error) or type(error).__name__)
        raise
    except SystemExit as error:  # Lightning's answer to SIGTERM or Ctrl-C under another handler
        _all(records, "interrupted", f"interrupted (exit {error.code})")
        if _is_sigterm(error):
            _all(records, "interrupted", "interrupted by SIGTERM")
            raise Interrupted(signal.SIGTERM) from error
        raise
    except Exception as error:
        _all(records, "failed", f"{type(error).__name__}: {error}")
        for record in records:
            record.traceback = traceback.format_exc()
        raise
    finally:
        wall = time.perf_counter() - started
        for member, record in zip(members, records, strict=True):
            record.wall_time_s = wall / len(members)  # a cohort's time, shared evenly
            record.finished_at = now()
            record.save(member.run_dir / "record.json")
            log.info("%s %s in %.1fs: width %g, effective density %s, %s of %s weights unpruned -> %s",
                     record.status, record.run_key, record.wall_time_s, record.width,
                     fmt(record.effective_density), record.unpruned_weights, record.total_weights,
                     member.run_dir)


def _all(records: Sequence[RunRecord], status: str, error: str) -> None:
    for record in records:
        record.status, record.error = status, error  # type: ignore[assignment]


def _is_sigterm(error: BaseException) -> bool:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    return isinstance(error, SIGTERMException)
