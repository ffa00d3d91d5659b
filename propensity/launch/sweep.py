"""What a sweep did: each job's status file, and the summary when the multirun ends.

Every job leaves ``job_status.json`` (and, when it failed, ``traceback.txt``) in its Hydra job
folder; `SweepSummary` logs a line per finished job and counts finished / skipped / failed
runs when the sweep ends, exiting non-zero when any job failed or was interrupted.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from propensity.launch.console import duration
from propensity.launch.signals import Interrupted

if TYPE_CHECKING:
    from propensity.storage.records import RunRecord

log = logging.getLogger("propensity")
JOB_STATUS = "job_status.json"
TRACEBACK = "traceback.txt"


# Outcomes of a run from the worst to the best: a cohort job's status is its worst member's.
SEVERITY = ("failed", "interrupted", "diverged", "untrained", "running", "max_epochs_reached",
            "finished")


def write_job_status(
    record: RunRecord | None,
    skipped: bool = False,
    error: BaseException | None = None,
    members: Sequence[dict[str, Any]] = (),
) -> Path | None:
    """Leave this job's outcome in its Hydra job directory for `SweepSummary`.

    A cohort job passes its `members` (``run_key``, ``status``, ``skipped`` each); its status
    is then its worst member's (`SEVERITY`), or the error's, and names every member. With an
    `error`, its full traceback goes to ``traceback.txt`` beside it; the path of that file is
    returned, for the one-line message that names it (None outside Hydra).
    """
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    status: dict[str, Any] = (
        {"status": "interrupted" if isinstance(error, (Interrupted, SystemExit)) else "failed",
         "error": f"{type(error).__name__}: {error}"}
        if record is None
        else {"status": record.status, "run_key": record.run_key, "skipped": skipped}
    )
    if members:
        if record is not None:
            status["status"] = min((m["status"] for m in members), key=_severity)
            status["skipped"] = all(m.get("skipped", False) for m in members)
        status["members"] = [dict(m) for m in members]
    (job_dir / JOB_STATUS).write_text(json.dumps(status))
    if error is None:
        return None
    (job_dir / TRACEBACK).write_text("".join(traceback.format_exception(error)))
    return job_dir / TRACEBACK


def _severity(status: str) -> int:
    return SEVERITY.index(status) if status in SEVERITY else 0


def _read_status(job_dir: Path) -> dict[str, Any] | None:
    try:
        status = json.loads((job_dir / JOB_STATUS).read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def _outcome(status: dict[str, Any]) -> str:
    return "skipped" if status.get("skipped") else str(status.get("status"))


def job_outcomes(sweep_dir: Path) -> dict[Path, str]:
    """Each job folder of a sweep -> finished / skipped / failed / ...; a job that left no
    status (killed, or crashed outside the task) counts as failed."""
    outcomes = {}
    job_dirs = {p.parent for pattern in ("*/.hydra", f"*/{JOB_STATUS}") for p in sweep_dir.glob(pattern)}
    for job_dir in sorted(job_dirs):
        status = _read_status(job_dir)
        outcomes[job_dir] = "failed" if status is None else _outcome(status)
    return outcomes


def failure(job_dir: Path) -> str:
    """What a failed or interrupted job's status says, in one line, and where its traceback is."""
    status = _read_status(job_dir)
    if status is None:
        return f"it left no status (killed before it ended?); see {job_dir}"
    error = (str(status.get("error") or "").strip().splitlines() or ["no error recorded"])[0]
    where = job_dir / TRACEBACK
    return f"{error} (traceback in {where})" if where.is_file() else error


def run_outcomes(sweep_dir: Path) -> Counter[str]:
    """How many runs of a sweep ended how: a cohort job counts each member (a failed or
    interrupted cohort each member it names), any other job counts as one run."""
    counts: Counter[str] = Counter()
    for job_dir, outcome in job_outcomes(sweep_dir).items():
        status = _read_status(job_dir) or {}
        members = status.get("members") or []
        if outcome in BAD_OUTCOMES or not members:
            counts[outcome] += max(len(members), 1)
        else:
            counts.update(_outcome(m) for m in members)
    return counts


# Job outcomes that make a multirun exit non-zero.
BAD_OUTCOMES = ("failed", "interrupted")


def sweep_size(multirun_yaml: Path) -> int | None:
    """How many jobs the sweeper launches for the sweep saved in `multirun_yaml`.

    The product of the sweep's value lists (``hydra.sweeper.params`` and the command line's
    ``key=a,b,c``), counted as Hydra's `BasicSweeper` expands them, then grouped into cohorts
    as the cohort sweeper groups them (`propensity.launch.grouping.group_jobs`); None for
    other sweepers.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from propensity.launch.grouping import group_jobs

    saved = OmegaConf.load(multirun_yaml)
    sweeper = str(OmegaConf.select(saved, "hydra.sweeper._target_"))
    if not any(name in sweeper for name in ("BasicSweeper", "CohortSweeper")):
        return None
    cohort = int(OmegaConf.select(saved, "cohort") or 1) if "CohortSweeper" in sweeper else 1
    params = OmegaConf.select(saved, "hydra.sweeper.params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(saved.hydra.overrides.task)
    overrides = OverridesParser.create().parse_overrides(arguments)
    batches = BasicSweeper.split_arguments(overrides, OmegaConf.select(saved, "hydra.sweeper.max_batch_size"))
    return sum(len(group_jobs(batch, cohort)) for batch in batches)


def sweep_progress(sweep_dir: Path, now: float | None = None) -> str:
    """``3/12 jobs done, ~1m20s left``: finished job folders against the sweep's size.

    Time left extrapolates the sweep's throughput so far (jobs done per second since
    Hydra saved ``multirun.yaml``), so parallel workers are accounted for.
    """
    done = len(list(sweep_dir.glob(f"*/{JOB_STATUS}")))
    saved = sweep_dir / "multirun.yaml"
    total = sweep_size(saved) if saved.is_file() else None
    if total is None or done < 1:
        return f"{done} jobs done"
    elapsed = (time.time() if now is None else now) - saved.stat().st_mtime
    left = elapsed / done * max(total - done, 0)
    return f"{done}/{total} jobs done, ~{duration(left)} left"


class SweepSummary(Callback):
    """At the end of a multirun, log how many jobs finished, were skipped or failed, and exit
    non-zero when any failed, so a script or CI step running the sweep sees it."""

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hydra_cfg = HydraConfig.get() if HydraConfig.initialized() else None
        if hydra_cfg is None or hydra_cfg.mode != RunMode.MULTIRUN:
            return
        job_dir = Path(hydra_cfg.runtime.output_dir)
        status = job_dir / JOB_STATUS
        saved = json.loads(status.read_text()) if status.is_file() else {"status": "failed"}
        outcome = "skipped" if saved.get("skipped") else saved["status"]
        members = saved.get("members") or []
        runs = f" ({len(members)} runs)" if len(members) > 1 else ""
        log.info("job %s %s%s: %s", hydra_cfg.job.num, outcome, runs, sweep_progress(job_dir.parent))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        outcomes = job_outcomes(sweep_dir)
        counts = run_outcomes(sweep_dir)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        runs, jobs = sum(counts.values()), len(outcomes)
        size = f"{jobs} jobs" if runs == jobs else f"{runs} runs in {jobs} jobs"
        log.info("sweep done: %s (%s) in %s", summary or "no jobs", size, sweep_dir)
        bad = [d for d, outcome in outcomes.items() if outcome in BAD_OUTCOMES]
        for job_dir in bad:  # one line each: under SLURM the jobs' own lines are in their logs
            log.error("job %s %s - %s", job_dir.name, outcomes[job_dir], failure(job_dir))
        if bad:
            raise SystemExit(1)


def is_multirun() -> bool:
    """Whether this process runs a job of a Hydra multirun (whose failures are recorded)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
