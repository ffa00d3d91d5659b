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
    **_: object,
) -> WandbLogger:
    """Lightning's WandbLogger, offline unless an API key is configured.

    `mode` (or ``WANDB_MODE``) wins when set; otherwise the run is online only if
    ``WANDB_API_KEY`` is set or ``wandb login`` stored a key, and offline (said once per
    process) if not. Runs are grouped by experiment name so the dashboard can group by width.
    """
    global _said_offline
    if mode is None:
        has_key = bool(os.environ.get("WANDB_API_KEY")) or _netrc_has_wandb()
        mode = "online" if has_key else "offline"
        if not has_key and not _said_offline:
            log.warning("W&B: no API key found, logging offline (sync later with `wandb sync`)")
            _said_offline = True
    return WandbLogger(
        project=project,
        entity=entity,
        group=group,
        tags=list(tags),
        name=run_name,
        save_dir=str(save_dir),
        mode=mode,
    )


def _netrc_has_wandb() -> bool:
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")
