"""The cohort sweeper as a Hydra plugin (Hydra instantiates sweepers from ``hydra_plugins``).

The grouping itself lives in `propensity.launch.grouping`. Before the jobs are handed to the
launcher (joblib workers, submitit, a SLURM job array) every job's config is composed and
passes the pre-flight (`propensity.run.members.sweep_problems`): a sweep bound to fail is
refused with one line per problem and nothing launched. A launcher that fails to submit
(sbatch refusing the array) is one line naming the setting to change
(`propensity.launch.slurm.sbatch_refusal`). The launchers' line per job shows a cohort's
members as seeds (``init_seed=0,1,2 (a cohort of 3)``), not the internal key that carries them.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from omegaconf import DictConfig, OmegaConf, open_dict

from propensity.launch.grouping import group_jobs, key_of, readable_job_line

log = logging.getLogger("propensity")

# The loggers of Hydra's launchers that log ``#<job> : <overrides>`` as each job is launched.
LAUNCHER_LOGGERS = (
    "hydra._internal.core_plugins.basic_launcher",
    "hydra_plugins.hydra_joblib_launcher._core",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher",
)


class ReadableJobLines(logging.Filter):
    """Rewrites a launcher's job line with `readable_job_line`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and not record.args:
            record.msg = readable_job_line(record.msg)
        return True


def _readable_job_lines() -> None:
    for name in LAUNCHER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ReadableJobLines) for f in logger.filters):
            logger.addFilter(ReadableJobLines())


class CohortSweeper(BasicSweeper):
    """`BasicSweeper` whose job batches are cohorts of up to ``cohort`` seeds (see module doc)."""

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        """Check the launcher's settings and environment through its schema before Hydra
        builds the launcher from them; refuse the sweep, launching nothing, when they fail."""
        found = _launcher_problems(config)
        if found:
            for line in found:
                log.error("sweep not launched: %s", line)
            raise SystemExit(1)
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def get_job_batch(self) -> Sequence[Sequence[str]]:
        batch = super().get_job_batch()
        assert self.config is not None
        cohort = self.config.get("cohort", 1)
        # Any other value is refused by every job's pre-flight (`validate_batch_is_legal`).
        valid = isinstance(cohort, int) and not isinstance(cohort, bool) and cohort > 1
        return group_jobs(batch, cohort) if valid else batch

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None
        if any(key_of(a) == "cohort" and "," in a for a in arguments):
            raise ValueError("cohort cannot be swept; set one value, e.g. cohort=10")
        _readable_job_lines()
        made = _first_missing(Path(str(self.config.hydra.sweep.dir)))
        try:
            return super().sweep(arguments)
        except SystemExit:
            if made is not None:  # a refused sweep leaves no folder behind
                _remove_if_only_configs(made)
            raise
        except Exception as error:
            from propensity.launch.slurm import sbatch_refusal

            launcher = OmegaConf.to_container(self.config.hydra.launcher, resolve=True)
            line = sbatch_refusal(error, launcher if isinstance(launcher, dict) else None)
            if line is None and _uncompleted(error):
                # submitit: a task ended without a result (cancelled, or killed by the
                # scheduler); the others go on in the array
                first = (str(error).strip().splitlines() or [""])[0]
                line = (f"{first.rstrip('.')}: its runs' records say how far they got "
                        "(interrupted or running); rerun the command to resume them")
            if line is None:
                raise
            log.error(line)
            raise SystemExit(1) from None

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Compose every job's config (as Hydra's own check does) and run the pre-flight on
        it; refuse the sweep, launching nothing, when any job would fail."""
        from propensity.launch.console import quiet_third_party
        from propensity.run.members import sweep_problems

        assert self.config is not None and self.hydra_context is not None
        jobs = [_task_config(self.hydra_context.config_loader.load_sweep_config(
            master_config=self.config, sweep_overrides=list(overrides))) for overrides in batch]
        quiet_third_party()
        found = sweep_problems(jobs)
        if found:
            for line in found:
                log.error("sweep not launched: %s", line)
            raise SystemExit(1)


def _launcher_problems(config: DictConfig) -> list[str]:
    """The launcher's settings and environment checked through its schema: SLURM's
    (`propensity.launch.slurm.launcher_problems`) for ``launcher=slurm``."""
    from propensity.launch.slurm import launcher_problems

    target = str(OmegaConf.select(config, "hydra.launcher._target_") or "")
    if not target.endswith("SlurmLauncher"):
        return []
    return launcher_problems(lambda key: OmegaConf.select(config, f"hydra.launcher.{key}"))


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None when `path` exists)."""
    missing = None
    for folder in [path, *path.parents]:
        if folder.exists():
            break
        missing = folder
    return missing


def _remove_if_only_configs(folder: Path) -> None:
    """Remove `folder` when it holds only the sweep's saved config (``multirun.yaml``)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    if all(p.name == "multirun.yaml" for p in files):
        shutil.rmtree(folder, ignore_errors=True)


def _task_config(composed: DictConfig) -> DictConfig:
    """A job's config as its task function receives it: without the ``hydra`` node."""
    with open_dict(composed):
        del composed["hydra"]
    return composed


def _uncompleted(error: BaseException) -> bool:
    """Whether `error` is submitit's for a job that ended without a result."""
    try:
        from submitit.core.utils import UncompletedJobError
    except ImportError:
        return False
    return isinstance(error, UncompletedJobError)
