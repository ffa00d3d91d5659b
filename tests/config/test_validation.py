"""Every bad value fails before any data is loaded, in one line naming the key, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from propensity.config.validation import ConfigError, validate

BAD = [
    ("pruning.schedule=remaining pruning.min_density=0", "pruning.min_density=0"),
    ("retrain=finetune retrain.search=halving", "retrain.search='halving': is unknown"),
    ("retrain=imp retrain.controls=[reinit,reinit]", "retrain.controls="),
    ("retrain=imp retrain.rate=2", "retrain.rate=2"),
    ("pruning.baselines=[random] pruning.mask_seeds=0", "pruning.mask_seeds=0"),
    ("pruning.levels_at_once=-1", "pruning.levels_at_once=-1"),
    ("pruning.levels_at_once=2.5", "pruning.levels_at_once=2.5"),
    ("pruning.thresholds=[abc]", "pruning.thresholds="),
    ("data.batch_size=1.5", "data.batch_size=1.5"),
    ("stop.target=-1", "stop.target=-1"),
    ("pruning.threshold=5", "pruning.threshold=5"),
    ("pruning.edge_popup.densities=[1.5]", "pruning.edge_popup.densities="),
    ("trainer.devices=4", "trainer.devices=4"),
    ("name=/abs/path", "name=/abs/path"),
    ("name=../up", "name=../up"),
    ("width=abc", "width=abc"),
    ("optim.lr=abc", "optim.lr=abc"),
    ("data_seed=abc", "data_seed=abc"),
    ("stop.max_epochs=abc", "stop.max_epochs=abc"),
    ("width=inf", "width=inf"),
    ("width=1e9", "width=1000000000"),
    ("width=nan", "width=nan"),
    ("init_seed=1.5", "init_seed=1.5"),
    ("stop.max_epochs=2.5", "stop.max_epochs=2.5"),
    ("optim.lr=-1", "optim.lr=-1"),
    ("pruning.step=0.9", "pruning.step=0.9"),
    ("pruning.method=lottery", "pruning.method=lottery"),
    ("pruning.baselines=[magnitude]", "pruning.baselines="),
    ("pruning.eval_test=maybe", "pruning.eval_test=maybe"),
    ("artifacts.weights=2", "artifacts.weights=2"),
    ("model.width=2", "model.width=2"),
    ("trainer.max_epochs=50", "trainer.max_epochs=50"),
    ("trainer.accelerator=tpu9", "trainer.accelerator=tpu9"),
    ("results_dir=/proc/x", "results_dir=/proc/x"),
    ("+optim.momentum=inf", "optim.momentum=inf"),
]


@pytest.mark.parametrize(("overrides", "starts"), BAD)
def test_bad_value_is_one_line_naming_key_value_and_fix(compose_cfg, overrides: str, starts: str) -> None:
    cfg = compose_cfg(*overrides.split())
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    message = str(info.value)
    assert message.startswith(starts), message
    assert "\n" not in message and ": " in message and "; " in message


def test_results_dir_that_is_a_file_is_refused(compose_cfg, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"^results_dir=.*is a file"):
        validate(compose_cfg(f"results_dir={blocker / 'sub'}"))


def test_gpu_without_a_gpu_is_refused(compose_cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(ConfigError, match=r"^trainer\.accelerator=gpu: no CUDA device"):
        validate(compose_cfg("trainer=gpu"))


@pytest.mark.parametrize(
    "overrides",
    ["", "experiment=quickstart", "experiment=mlp_sgd", "experiment=conv2_adam", "debug=fdr",
     "debug=limit", "debug=overfit", "pruning.threshold_mode=loss pruning.threshold=5",
     "pruning.schedule=remaining", "launcher=gpus", "trainer=cpu", "optim.lr=1e30"],
)
def test_shipped_configs_validate(compose_cfg, overrides: str) -> None:
    validate(compose_cfg(*overrides.split()))
