"""One log line per epoch with the time left, and the switch that turns the lines off."""

from __future__ import annotations

import logging

import pytest

from propensity.engines.epoch_report import EpochReport, run_label, time_left
from propensity.launch.console import duration
from propensity.run.recipe import train
from tests.conftest import FAST


def test_time_left_extrapolates_the_mean_epoch_time() -> None:
    assert time_left(10.0, 5, 95) == pytest.approx(190.0)
    assert time_left(3.0, 3, 0) == 0.0
    with pytest.raises(ValueError, match="epochs_done=0"):
        time_left(1.0, 0, 10)


@pytest.mark.parametrize(("seconds", "text"), [(4.4, "4s"), (59.6, "1m00s"), (185, "3m05s"),
                                               (7620, "2h07m")])
def test_duration_is_short(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize("progress", [True, False])
def test_one_line_per_epoch_unless_switched_off(compose_cfg, caplog, progress: bool) -> None:
    cfg = compose_cfg(*FAST, "stop.max_epochs=3", f"progress={str(progress).lower()}")
    with caplog.at_level(logging.INFO, logger="propensity"):
        train(cfg)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    if not progress:
        assert lines == []
        return
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    for line in lines:
        assert "train loss " in line and "val acc 0." in line
        assert "elapsed" in line and "left" in line
    assert lines[-1].endswith("<=0s left")


def test_a_job_beside_others_names_its_run(tmp_path, caplog) -> None:
    keys = [f"mlp-w0.5-sgd-glorot-i{i}-d0-{i}a" for i in range(3)]
    assert run_label(keys[:1]) == keys[0]
    assert run_label(keys) == f"{keys[0]} and 2 more seeds"
    report = EpochReport([tmp_path / k for k in keys], [[], [], []], 10, label=run_label(keys))
    for key in keys:
        (tmp_path / key).mkdir()
    with caplog.at_level(logging.INFO, logger="propensity"):
        report(1, {m: {"train_loss": 0.5, "val_acc": 0.9} for m in range(3)}, training=3)
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"epoch 1/10 ({keys[0]} and 2 more seeds): 3 of 3 members training, ")
