"""Glue for multiruns: one job per GPU, and a summary of what a sweep did .

Scheduling is Hydra's (joblib on one machine, submitit on SLURM); this module only binds a
job to a device and reports finished / skipped / failed jobs when the sweep ends.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from propensity.console import duration

if TYPE_CHECKING:
    from propensity.records import RunRecord

log = logging.getLogger("propensity")
JOB_STATUS = "job_status.json"


def visible_devices() -> list[str]:
    """CUDA devices this process may use, read without initialising CUDA.

    ``CUDA_VISIBLE_DEVICES`` when set; otherwise NVML's device count via torch, which does
    not create a CUDA context (the parent of a joblib sweep must not hold one).
    """
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d for d in env.split(",") if d.strip() not in ("", "-1")]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def assign_device(job_num: int, devices: Sequence[str]) -> int | None:
    """Index into `devices` for job `job_num`: round-robin, ``job_num mod len(devices)``.

    With as many workers as devices, jobs 0..N-1 start on distinct GPUs; a later job takes
    the device of the job N places before it. None when there is no device (CPU).
    """
    if job_num < 0:
        raise ValueError(f"job_num={job_num} must be >= 0")
    return job_num % len(devices) if devices else None


def job_device(cfg: DictConfig) -> dict[str, Any]:
    """Trainer overrides binding this job to one GPU, when ``device_from_job`` is set."""
    if not cfg.get("device_from_job", False):
        return {}
    from hydra.core.hydra_config import HydraConfig

    job_num = HydraConfig.get().job.num if HydraConfig.initialized() else 0
    index = assign_device(int(job_num or 0), visible_devices())
    if index is None:
        return {"accelerator": "cpu", "devices": 1}
    return {"accelerator": "gpu", "devices": [index]}


def worker_count(cpu_workers: int = 2) -> int:
    """Workers of the ``gpus`` launcher: one per visible GPU, else `cpu_workers`."""
    return len(visible_devices()) or int(cpu_workers)


def register_resolvers() -> None:
    """OmegaConf resolvers used by ``propensity/conf/launcher``; safe to call more than once."""
    if not OmegaConf.has_resolver("propensity.workers"):
        OmegaConf.register_new_resolver("propensity.workers", worker_count)


def write_job_status(
    record: RunRecord | None, skipped: bool = False, error: BaseException | None = None
) -> None:
    """Leave this job's outcome in its Hydra job directory for `SweepSummary`."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return
    status: dict[str, Any] = (
        {"status": "failed", "error": repr(error)}
        if record is None
        else {"status": record.status, "run_key": record.run_key, "skipped": skipped}
    )
    out = Path(HydraConfig.get().runtime.output_dir) / JOB_STATUS
    out.write_text(json.dumps(status))


def sweep_size(multirun_yaml: Path) -> int | None:
    """How many jobs the basic sweeper launches for the sweep saved in `multirun_yaml`.

    The product of the sweep's value lists (``hydra.sweeper.params`` and the command line's
    ``key=a,b,c``), counted as Hydra's `BasicSweeper` expands them; None for other sweepers.
    """
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    saved = OmegaConf.load(multirun_yaml)
    if "BasicSweeper" not in str(OmegaConf.select(saved, "hydra.sweeper._target_")):
        return None
    params = OmegaConf.select(saved, "hydra.sweeper.params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(saved.hydra.overrides.task)
    overrides = OverridesParser.create().parse_overrides(arguments)
    return len(BasicSweeper.split_arguments(overrides, None)[0])


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
    """In a multirun, a line per finished job (i/N, time left) and a summary at the end."""

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
        log.info("job %s %s: %s", hydra_cfg.job.num, outcome, sweep_progress(job_dir.parent))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        statuses = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob(f"*/{JOB_STATUS}"))]
        counts = Counter("skipped" if s.get("skipped") else s["status"] for s in statuses)
        failed = [str(p.parent) for p in sorted(sweep_dir.glob(f"*/{JOB_STATUS}"))
                  if json.loads(p.read_text())["status"] == "failed"]
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        log.info("sweep done: %s (%d jobs) in %s", summary or "no jobs", len(statuses), sweep_dir)
        if failed:
            log.warning("failed jobs' logs: %s", ", ".join(failed))
