"""The cohort sweeper as a Hydra plugin (Hydra instantiates sweepers from ``hydra_plugins``).

The grouping itself lives in `propensity.launch.grouping`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from omegaconf import open_dict

from propensity.launch.grouping import MEMBERS_KEY, group_jobs, key_of

log = logging.getLogger("propensity")


class CohortSweeper(BasicSweeper):
    """`BasicSweeper` whose job batches are cohorts of up to ``cohort`` seeds (see module doc)."""

    def get_job_batch(self) -> Sequence[Sequence[str]]:
        batch = super().get_job_batch()
        assert self.config is not None
        cohort = self.config.get("cohort", 1)
        return group_jobs(batch, cohort) if cohort != 1 else batch

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Hydra composes every job before launching any; a cohort job is also checked to be
        one the stacked engine can train (`propensity.run.members.preflight`), so a model it
        cannot stack fails the sweep in one line before any job starts, not in every job."""
        super().validate_batch_is_legal(batch)
        from propensity.config.validation import ConfigError
        from propensity.run.members import preflight

        assert self.hydra_context is not None and self.config is not None
        checked: set[str] = set()
        for job in batch:
            if any(key_of(a) == MEMBERS_KEY for a in job):
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(job))
                with open_dict(cfg):
                    del cfg["hydra"]  # the job's config as its task sees it
                try:
                    preflight(cfg, checked)
                except ConfigError as error:
                    if os.environ.get("HYDRA_FULL_ERROR") == "1":
                        raise
                    log.error("sweep not started: config error: %s", error)
                    raise SystemExit(1) from None

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None
        if any(key_of(a) == "cohort" and "," in a for a in arguments):
            raise ValueError("cohort cannot be swept; set one value, e.g. cohort=10")
        return super().sweep(arguments)
