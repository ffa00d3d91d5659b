"""``propensity-train``: train, prune and record runs (sections 3.1 and 3.2).

    python -m propensity.train model=mlp data=digits width=0.5 optim=sgd init=glorot
    python -m propensity.train -m experiment=quickstart          # a sweep

Each run lives in ``<results_dir>/<name>/<run_key>/`` (see `propensity.identity`): asking
for a finished run again skips it, an interrupted one resumes from its last checkpoint.
Debugging runs (``debug=fdr|limit|overfit``) live in ``<results_dir>/debug/<run_key>/``,
start afresh every time and are never collected. The recipe is `propensity.run.recipe`;
this module is the entry point only.
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from propensity.identity import register_resolvers as register_model_name
from propensity.launch.devices import register_resolvers

# Torch, Lightning and the recipe are imported when a job starts, so `--help`, `--cfg` and
# shell completion answer in well under two seconds.
register_resolvers()
register_model_name()


def load_env(folder: Path | None = None) -> None:
    """Read ``.env`` from the working directory (the project's), before Hydra composes the
    config, so ``PROPENSITY_RESULTS_DIR`` and ``SLURM_*`` there reach the results and the
    launcher. Variables already set in the environment win."""
    from dotenv import load_dotenv

    load_dotenv((folder or Path.cwd()) / ".env", override=False)


@hydra.main(config_path="conf", config_name="train", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> float | list[float | None] | None:
    """Hydra's task: one job (a run or a cohort); in a multirun a failed job is recorded and
    the sweep goes on."""
    from propensity.launch.console import quiet_third_party
    from propensity.run.job import run_job

    quiet_third_party()
    return run_job(cfg)


def main() -> None:
    """``propensity-train`` / ``python -m propensity.train``: ``.env`` first, then Hydra, with
    a misspelt key passed on for the pre-flight to name (`propensity.config.overrides`)."""
    import sys

    from propensity.config.overrides import with_unknown_keys_forced

    load_env()
    sys.argv[1:] = with_unknown_keys_forced(sys.argv[1:])
    _hydra_main()


if __name__ == "__main__":
    main()
