"""The defaults converge: the default run and the README's first run reach their target."""

from __future__ import annotations

import pytest

from propensity.run.recipe import train

README_FIRST = ["model=mlp", "data=digits", "width=0.5", "optim=sgd", "init=glorot", "init_seed=0",
                "data_seed=0"]


def test_sgd_lr_comes_from_the_data_set_and_the_paper_grid_keeps_its_own(compose_cfg) -> None:
    assert compose_cfg().optim.lr == 0.05  # digits' default_lr.sgd
    assert compose_cfg("data=mnist").optim.lr == 1e-3  # no default_lr: the paper's MNIST lr
    assert compose_cfg("experiment=mlp_sgd", "data=digits").optim.lr == 1e-3  # the experiment's
    assert compose_cfg("optim.lr=0.2").optim.lr == 0.2


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [[], README_FIRST], ids=["default", "readme_first"])
def test_run_reaches_its_train_loss_target(compose_cfg, overrides: list[str]) -> None:
    cfg = compose_cfg(*overrides, "logger=none", "progress=false")
    record = train(cfg)
    assert record.status == "finished" and record.stop_target_met
    assert record.train_loss <= cfg.stop.target
    assert record.stop_epoch < cfg.stop.max_epochs / 2
