"""The Hydra job: one run, or a cohort of a multirun's seeds, through the one recipe.

Whatever the job holds, it ends the same way: ``job_status.json`` in its Hydra job folder
(naming every member of a cohort) for the sweep's summary; a failure as one line,
``job failed: <error> (traceback in <job folder>/traceback.txt)`` (``HYDRA_FULL_ERROR=1``
raises instead), recorded in each run's ``record.json``, after which a multirun goes on and a
single run exits 1; SIGTERM or Ctrl-C as ``interrupted`` records and exit 128 + the signal,
with a line that says what happens next: under SLURM, whether the task was requeued (it then
resumes by itself) or must be rerun (`propensity.launch.slurm`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from propensity.config.members import JobConfig, member_configs
from propensity.config.validation import ConfigError
from propensity.identity import run_key
from propensity.launch.signals import Interrupted
from propensity.launch.slurm import next_step
from propensity.launch.sweep import is_multirun, write_job_status
from propensity.run.recipe import trained_and_skipped
from propensity.storage.records import load_record

log = logging.getLogger("propensity")


def run_job(cfg: JobConfig) -> float | list[float | None] | None:
    """Train the job `cfg` describes; return its effective density (a cohort's: each member's)."""
    cfgs = member_configs(cfg)
    cohort = len(cfgs) > 1
    try:
        records, skipped = trained_and_skipped(cfgs)
    except Interrupted as stop:
        write_job_status(None, error=stop, members=_members_on_disk(cfgs) if cohort else ())
        log.error("%s: %s interrupted; %s", stop, _whose(cohort), next_step())
        raise SystemExit(128 + stop.signum) from None
    except SystemExit as stop:  # submitit's exit once it has requeued a timed-out or preempted task
        write_job_status(None, error=stop, members=_members_on_disk(cfgs) if cohort else ())
        log.error("stopped by the launcher (exit %s): %s interrupted; %s", stop.code, _whose(cohort),
                  next_step())
        raise
    except Exception as error:
        where = write_job_status(None, error=error, members=_members_on_disk(cfgs) if cohort else ())
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        kind = "config error" if isinstance(error, ConfigError) else type(error).__name__
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        log.error("job failed: %s: %s%s", kind, message, f" (traceback in {where})" if where else "")
        if not is_multirun():
            raise SystemExit(1) from None
        return None
    if not cohort:
        write_job_status(records[0], skipped=skipped[0])
        return records[0].effective_density
    members = [{"run_key": r.run_key, "status": r.status, "skipped": s}
               for r, s in zip(records, skipped, strict=True)]
    write_job_status(records[0], members=members)
    return [r.effective_density for r in records]


def _whose(cohort: bool) -> str:
    return "the members' records say" if cohort else "the run's record says"


def _members_on_disk(cfgs: Sequence[JobConfig]) -> list[dict[str, Any]]:
    """Each member's run key and the status its ``record.json`` says (``failed`` if none)."""
    from propensity.config.settings import read_settings

    out = []
    for cfg in cfgs:
        try:
            run = read_settings(cfg)
        except Exception:  # the config itself failed: no folder to read
            out.append({"run_key": "?", "status": "failed"})
            continue
        record, _ = load_record(run.run_dir / "record.json")
        out.append({"run_key": run_key(cfg), "status": record.status if record else "failed"})
    return out
