"""The learning coefficient inside a training run: config, record, traces, run key."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from propensity.config.validation import ConfigError
from propensity.identity import run_key
from propensity.run.recipe import train
from tests.conftest import FAST, run_cli, run_directory

pytest.importorskip("devinterp")

SMALL = ["llc=sgld", "llc.num_chains=2", "llc.num_draws=10"]


def test_run_records_the_estimate_and_the_traces(compose_cfg) -> None:
    cfg = compose_cfg(*FAST, *SMALL)
    record = train(cfg)
    assert record.status == "finished"
    assert math.isfinite(record.llc_mean) and math.isfinite(record.llc_std)
    assert isinstance(record.llc_valid, bool)
    assert (record.llc_reason is None) == record.llc_valid
    traces = pd.read_csv(run_directory(cfg) / "llc_traces.csv")
    assert len(traces) == 2 * 10 and traces.chain.nunique() == 2


def test_diverged_chains_are_recorded_as_invalid_with_their_reason(compose_cfg) -> None:
    record = train(compose_cfg(*FAST, *SMALL, "llc.lr=100", "llc.localization=0"))
    assert record.status == "finished"  # the run itself stands; only its LLC is invalid
    assert record.llc_valid is False
    assert "diverged" in record.llc_reason
    assert record.llc_mean is None or math.isfinite(record.llc_mean)


def test_without_llc_nothing_is_estimated(compose_cfg) -> None:
    cfg = compose_cfg(*FAST)
    record = train(cfg)
    assert record.llc_mean is None and record.llc_valid is None
    assert not (run_directory(cfg) / "llc_traces.csv").exists()


def test_only_a_requested_estimate_changes_the_run_key(compose_cfg) -> None:
    plain, none, sgld = compose_cfg(*FAST), compose_cfg(*FAST, "llc=none"), compose_cfg(*FAST, "llc=sgld")
    assert run_key(plain) == run_key(none) != run_key(sgld)
    assert run_key(sgld) != run_key(compose_cfg(*FAST, "llc=sgld", "llc.lr=1e-3"))


def test_missing_devinterp_is_a_one_line_error_before_training(compose_cfg, monkeypatch) -> None:
    monkeypatch.setattr("propensity.llc.devinterp_available", lambda: False)
    cfg = compose_cfg(*FAST, "llc=sgld")
    with pytest.raises(ConfigError, match=r"pip install propensity\[llc\]"):
        train(cfg)
    assert not run_directory(cfg).exists()


@pytest.mark.parametrize(
    ("override", "match"),
    [("llc.lr=0", "llc.lr=0"), ("llc.num_chains=1", "llc.num_chains=1"), ("llc.nbeta=-1", "llc.nbeta=-1"),
     ("llc.num_draws=1", "llc.num_draws=1"),
     ("llc.batch_size=1", "llc.batch_size=1")],
)
def test_bad_settings_are_one_line_errors(compose_cfg, override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        train(compose_cfg(*FAST, "llc=sgld", override))


@pytest.mark.slow
def test_digits_run_gives_a_finite_valid_positive_estimate(tmp_path) -> None:
    """The CLI as a user runs it, with the default stop rule and fewer draws."""
    result = run_cli("data=digits", "width=0.1", "llc=sgld", "llc.num_draws=20", "logger=none",
                     f"results_dir={tmp_path}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (path,) = tmp_path.glob("*/*/record.json")
    record = json.loads(path.read_text())
    assert record["llc_valid"] is True, record["llc_reason"]
    assert math.isfinite(record["llc_mean"]) and record["llc_mean"] > 0
    assert (path.parent / "llc_traces.csv").is_file()
