"""Single runs through the real recipe (`propensity.train`), to compare cohorts against."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tests.conftest import CONF

# Small and quick: digits, width 0.25, two epochs, a coarse pruning step.
SMALL = ["data=digits", "width=0.25", "stop=epochs", "stop.max_epochs=2", "logger=none",
         "pruning.step=0.1", "artifacts.weights=true"]
# (init_seed, data_seed) of the members: two share a data seed, one has its own.
SEEDS = [(0, 0), (1, 0), (2, 1)]


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., list[DictConfig]]:
    """One composed config per seed pair in `SEEDS`, results in a module-wide directory."""
    results = tmp_path_factory.mktemp("results")

    def _configs(*overrides: str, seeds: list[tuple[int, int]] = SEEDS) -> list[DictConfig]:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return [
                compose("train", overrides=[f"results_dir={results}", *SMALL, *overrides,
                                            f"init_seed={i}", f"data_seed={d}"])
                for i, d in seeds
            ]

    return _configs


def results_dir(cfg: DictConfig) -> Path:
    from tests.conftest import run_directory

    return run_directory(cfg)
