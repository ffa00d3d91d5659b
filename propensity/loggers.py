"""Experiment loggers that never block on the network."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from lightning.pytorch.loggers import WandbLogger

log = logging.getLogger(__name__)
_said_offline = False


def wandb_logger(
    save_dir: str | Path,
    project: str = "propensity",
    entity: str | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    mode: str | None = None,
    run_name: str | None = None,
    job_type: str = "train",
    log_model: bool = False,
    **_: object,
) -> WandbLogger:
    """Lightning's WandbLogger, offline unless an API key is configured.

    `mode` (or ``WANDB_MODE``) wins when set; otherwise the run is online only if
    ``WANDB_API_KEY`` is set or ``wandb login`` stored a key, and offline (said once per
    process) if not. Runs are grouped by experiment name so the dashboard can group by width.
    W&B writes its run folders to ``<save_dir>/wandb/`` (``offline-run-*`` when offline), so
    one ``wandb sync <save_dir>/wandb/offline-run-*`` uploads a whole sweep. `log_model`
    uploads the final checkpoint as a model artifact when training ends.
    """
    global _said_offline
    if mode is None:
        has_key = bool(os.environ.get("WANDB_API_KEY")) or _netrc_has_wandb()
        mode = "online" if has_key else "offline"
        if not has_key and not _said_offline:
            log.warning("W&B: no API key found, logging offline to %s/wandb "
                        "(upload later with `wandb sync %s/wandb/offline-run-*`)", save_dir, save_dir)
            _said_offline = True
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    logger = WandbLogger(
        project=project,
        entity=entity,
        group=group,
        tags=list(tags),
        name=run_name,
        save_dir=str(save_dir),
        mode=mode,
        job_type=job_type,
        log_model=log_model,
        checkpoint_name=f"model-{run_name}" if run_name else None,  # versions of one run key
    )
    # Lightning always passes `anonymous`, which wandb >= 0.19 warns about on every run.
    logger._wandb_init.pop("anonymous", None)
    return logger


def _netrc_has_wandb() -> bool:
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")
