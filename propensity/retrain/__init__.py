"""Retraining regimes as branches of a trained run: fine-tuning, IMP with rewinding, controls.

The paper measures effective density without retraining (section 3.2: "this is *not*
iterative magnitude pruning"). These are the pure pieces of the regimes that retrain: typed
settings (`settings`), IMP's levels and nested masks (`imp`), rewinding to the dense run's
weights at iteration k (`rewind`), the lottery-ticket controls (`controls`), the fine-tuning
crossing search (`crossing`), ED and matching density per regime (`density`), a branch's key
(`identity`), and one level's starting states and result rows (`levels`). The masking
through optimiser steps is `propensity.pruning.masked_training.keep_pruned_at_zero`. Plain
torch: no training framework and no config system, so an engine drives them and tests run
them alone.
"""

from propensity.retrain.controls import derived_seed, random_masks, reinitialized_state
from propensity.retrain.crossing import Crossing, find_crossing, max_fine_tunes
from propensity.retrain.density import ed_by_regime, matching_density, regime_summary
from propensity.retrain.identity import branch_key, branch_name
from propensity.retrain.imp import dense_masks, imp_last_level, imp_masks, remaining
from propensity.retrain.levels import LevelResult, LevelStart, imp_level_starts, regime_trajectory
from propensity.retrain.rewind import (
    CaptureAt,
    copy_state,
    initial_state,
    load_rewind_state,
    masked_state,
    rewind,
    rewind_state_path,
    save_rewind_state,
)
from propensity.retrain.settings import (
    CONTROLS,
    REGIMES,
    FinetuneSettings,
    IMPSettings,
    NoRetrain,
    RetrainSettings,
    RetrainSettingsError,
    retrain_settings,
)

__all__ = [
    "CONTROLS",
    "REGIMES",
    "CaptureAt",
    "Crossing",
    "FinetuneSettings",
    "IMPSettings",
    "LevelResult",
    "LevelStart",
    "NoRetrain",
    "RetrainSettings",
    "RetrainSettingsError",
    "branch_key",
    "branch_name",
    "copy_state",
    "dense_masks",
    "derived_seed",
    "ed_by_regime",
    "find_crossing",
    "imp_last_level",
    "imp_level_starts",
    "imp_masks",
    "initial_state",
    "load_rewind_state",
    "masked_state",
    "matching_density",
    "max_fine_tunes",
    "random_masks",
    "regime_summary",
    "regime_trajectory",
    "reinitialized_state",
    "remaining",
    "retrain_settings",
    "rewind",
    "rewind_state_path",
    "save_rewind_state",
]
