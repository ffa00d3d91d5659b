"""The cohort sweeper as a Hydra plugin (Hydra instantiates sweepers from ``hydra_plugins``).

The grouping itself lives in `propensity.launch.grouping`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

from propensity.launch.grouping import group_jobs, key_of


class CohortSweeper(BasicSweeper):
    """`BasicSweeper` whose job batches are cohorts of up to ``cohort`` seeds (see module doc)."""

    def get_job_batch(self) -> Sequence[Sequence[str]]:
        batch = super().get_job_batch()
        assert self.config is not None
        cohort = self.config.get("cohort", 1)
        return group_jobs(batch, cohort) if cohort != 1 else batch

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None
        if any(key_of(a) == "cohort" and "," in a for a in arguments):
            raise ValueError("cohort cannot be swept; set one value, e.g. cohort=10")
        return super().sweep(arguments)
