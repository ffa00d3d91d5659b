"""The run key: the whole resolved config but its declared logistics, defaults left out."""

from __future__ import annotations

import pytest

from propensity.identity import LOGISTICS, hashed_config, is_debug, run_key


@pytest.mark.parametrize(
    "override",
    ["stop.max_epochs=50", "+trainer.precision=16-mixed", "+trainer.gradient_clip_val=1",
     "+trainer.fast_dev_run=true", "trainer.deterministic=false", "+optim.momentum=0.9",
     "data.batch_size=32", "data.val_size=200", "pruning.step=0.04", "pruning.mask_seeds=5",
     "artifacts.weights=true", "init=he", "width=0.5", "stop=epochs", "+trainer.max_steps=7"],
)
def test_every_setting_that_changes_the_numbers_changes_the_key(compose_cfg, override: str) -> None:
    assert run_key(compose_cfg(override)) != run_key(compose_cfg())


@pytest.mark.parametrize(
    "override",
    ["+trainer.gradient_clip_val=null", "+trainer.benchmark=null", "+trainer.accumulate_grad_batches=1",
     "+optim.momentum=0", "+optim.nesterov=false", "+trainer.overfit_batches=0",
     "+trainer.limit_train_batches=null", "width=1", "optim.lr=0.050"],
)
def test_a_new_key_at_its_default_keeps_the_key(compose_cfg, override: str) -> None:
    assert run_key(compose_cfg(override)) == run_key(compose_cfg())


@pytest.mark.parametrize(
    "override",
    ["logger=none", "logger=wandb", "launcher=gpus", "launcher=local", "resume=false",
     "trainer.enable_progress_bar=true", "trainer.accelerator=cpu", "trainer=cpu",
     "data.eval_batch_size=100", "data.whole_epoch=false", "name=other",
     "pruning.levels_at_once=0", "pruning.levels_at_once=8"],
)
def test_logistics_do_not_change_the_key(compose_cfg, override: str) -> None:
    assert run_key(compose_cfg(override)) == run_key(compose_cfg())


def test_results_dir_is_logistics(compose_cfg, tmp_path) -> None:
    assert run_key(compose_cfg(f"results_dir={tmp_path / 'elsewhere'}")) == run_key(compose_cfg())


def test_logistics_keys_are_absent_from_the_hashed_config(compose_cfg) -> None:
    hashed = hashed_config(compose_cfg("data=mnist"))
    for dotted in LOGISTICS:
        node = hashed
        *parents, leaf = dotted.split(".")
        for parent in parents:
            node = node.get(parent, {})
        assert leaf not in node, dotted
    assert hashed["width"] == 1 and hashed["trainer"]["max_epochs"] == 100


def test_key_keeps_its_readable_prefix(compose_cfg) -> None:
    key = run_key(compose_cfg("width=0.5"))
    assert key.startswith("mlp-w0.5-sgd-glorot-i0-d0-") and len(key.rsplit("-", 1)[1]) == 10


@pytest.mark.parametrize(
    ("override", "debug"),
    [("debug=fdr", True), ("debug=limit", True), ("debug=overfit", True),
     ("+trainer.fast_dev_run=true", True), ("+trainer.limit_train_batches=1", True),
     ("+trainer.limit_val_batches=1.0", False), ("+trainer.overfit_batches=0", False),
     ("name=debug", True), ("trainer=gpu", False)],
)
def test_debug_runs_are_recognised(compose_cfg, override: str, debug: bool) -> None:
    assert is_debug(compose_cfg(override)) is debug


def test_trainer_groups_compose(compose_cfg) -> None:
    assert compose_cfg("trainer=gpu").trainer.accelerator == "gpu"
    assert compose_cfg("trainer=cpu").trainer.accelerator == "cpu"
    assert compose_cfg().trainer.max_epochs == compose_cfg().stop.max_epochs
