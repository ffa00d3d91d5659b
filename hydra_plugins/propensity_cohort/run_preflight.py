"""The pre-flight of a single run, before Hydra makes the run's job folder.

Hydra calls ``on_run_start`` after composing the config and before creating
``hydra.run.dir``; a config the pre-flight refuses (`propensity.run.members.sweep_problems`,
the check a sweep's jobs pass before launch) is then one line per problem on stderr, exit 1,
and no folder left behind. A multirun's jobs are checked by the cohort sweeper instead.
"""

from __future__ import annotations

import copy
import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict


class RunPreflight(Callback):
    """Refuse a single run's bad config before Hydra makes its folder (see module doc)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from propensity.launch.console import quiet_third_party
        from propensity.run.members import sweep_problems

        job = copy.deepcopy(config)
        with open_dict(job):
            del job["hydra"]
        quiet_third_party()
        try:
            found = sweep_problems([job])
        except Exception as error:  # Hydra would only warn about a callback's exception
            found = [f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"]
        if found:
            for line in found:
                print(f"config error: {line}", file=sys.stderr)
            raise SystemExit(1)
