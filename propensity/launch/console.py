"""What a job prints: the project's own lines, without third-party boilerplate.

Called at the start of every job (the Hydra task function), so joblib and submitit
workers, which start fresh interpreters, are as quiet as the parent process.
"""

from __future__ import annotations

import logging
import warnings

# Lightning's INFO banners ("GPU available: ...", "TPU available", the litlogger and
# litmodels tips, the Tensor Cores hint), the per-job "LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES"
# and the "`weights_only` was not set" of every resumed run; their warnings still come through.
_BANNER_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning.pytorch.accelerators.cuda",
    "lightning.pytorch.trainer.connectors.checkpoint_connector",
)

# Warnings that say nothing about this project's runs, matched on the start of their message.
_KNOWN_WARNINGS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning on torch >= 2.10
    r"The number of training batches .* is smaller than the logging interval",  # whole-epoch steps
    r".*does not have many workers",  # tensors are already in memory; workers would only copy them
    # Wherever SLURM is installed: each run trains on one device in one process, so there is no
    # `srun` to prepend; SLURM's signals and requeues are submitit's (`propensity.launch.slurm`).
    r"The `srun` command is available on your system but is not used",
)


def quiet_third_party() -> None:
    """Silence Lightning's banners and the known deprecation and performance hints; idempotent."""
    for name in _BANNER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in _KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


def in_parallel_sweep() -> bool:
    """Whether this job's lines may interleave with other jobs' on one console: a multirun
    whose launcher is not Hydra's basic one (which runs the jobs one after another)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return False
    hydra = HydraConfig.get()
    return hydra.mode == RunMode.MULTIRUN and "BasicLauncher" not in str(hydra.launcher.get("_target_"))


class BelowWarning(logging.Filter):
    """Passes progress and results (below WARNING) to stdout; warnings and errors go to stderr
    (``conf/hydra/job_logging``), so a pipe of stdout holds the results alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


def duration(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``2h07m``: short enough for a log line."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
