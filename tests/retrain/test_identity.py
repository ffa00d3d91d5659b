"""A branch's key: its run's key plus its own settings; the run key does not move."""

from __future__ import annotations

import pytest

from propensity.identity import run_key
from propensity.retrain.identity import branch_key, branch_name
from propensity.retrain.settings import FinetuneSettings, IMPSettings, NoRetrain

RUN = "mlp-w1-sgd-glorot-i0-d0-3f9a0c1b2d"


@pytest.mark.parametrize("regime", ["none", "finetune", "imp"])
def test_choosing_a_regime_leaves_the_run_key_where_it_was(compose_cfg, regime: str) -> None:
    assert run_key(compose_cfg(f"retrain={regime}")) == run_key(compose_cfg())


def test_imp_settings_in_the_config_leave_the_run_key_too(compose_cfg) -> None:
    assert run_key(compose_cfg("retrain=imp", "retrain.rate=0.5")) == run_key(compose_cfg())


def test_none_is_the_run_itself_and_each_branch_extends_its_runs_key() -> None:
    assert branch_key(RUN, NoRetrain()) == RUN
    key = branch_key(RUN, IMPSettings())
    assert key.startswith(f"{RUN}.imp-") and len(key.rsplit("-", 1)[1]) == 10
    assert branch_key(RUN, FinetuneSettings()).startswith(f"{RUN}.finetune-")
    assert branch_key(RUN, IMPSettings(), "reinit").startswith(f"{RUN}.imp_reinit-")
    assert branch_key("mlp-w1-sgd-glorot-i1-d0-aaaaaaaaaa", IMPSettings()) != key


@pytest.mark.parametrize(
    "changed",
    [IMPSettings(rate=0.1), IMPSettings(rewind_iteration=100), IMPSettings(allocation="global"),
     IMPSettings(max_epochs=5), IMPSettings(seed=1)],
)
def test_what_a_level_computes_changes_the_key(changed: IMPSettings) -> None:
    assert branch_key(RUN, changed) != branch_key(RUN, IMPSettings())


@pytest.mark.parametrize(
    "same",
    [IMPSettings(min_density=0.05), IMPSettings(stop_after_crossing=True), IMPSettings(controls=()),
     IMPSettings(control_seed=3), IMPSettings(rate=0.2, rewind_iteration=0)],
)
def test_which_levels_run_and_the_controls_seed_leave_imps_key(same: IMPSettings) -> None:
    assert branch_key(RUN, same) == branch_key(RUN, IMPSettings())


def test_the_controls_seed_keys_the_controls() -> None:
    for control in ("reinit", "random"):
        assert (branch_key(RUN, IMPSettings(control_seed=3), control)
                != branch_key(RUN, IMPSettings(), control))
    assert branch_key(RUN, IMPSettings(), "reinit") != branch_key(RUN, IMPSettings(), "random")


def test_the_search_leaves_a_fine_tunings_key_and_the_budget_moves_it() -> None:
    base = branch_key(RUN, FinetuneSettings())
    assert branch_key(RUN, FinetuneSettings(search="every_level")) == base
    assert branch_key(RUN, FinetuneSettings(max_epochs=20)) != base
    assert branch_key(RUN, FinetuneSettings(stop_rule=False)) != base


def test_controls_belong_to_imp() -> None:
    assert branch_name(IMPSettings(), "random") == "imp_random"
    with pytest.raises(ValueError, match="use retrain=imp"):
        branch_name(FinetuneSettings(), "reinit")
    with pytest.raises(ValueError, match="use one of reinit, random"):
        branch_name(IMPSettings(), "shuffle")
