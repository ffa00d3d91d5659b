"""A branch's identity: its trained run's key plus the branch's own settings, hashed.

A branch never trains the dense model again, so its key extends the run key
(`propensity.identity.run_key`) rather than replacing it: ``<run_key>.<name>-<hash>``, where
`name` is the regime (``imp``) or a control of it (``imp_reinit``). As in the run key,
settings equal to their default are left out of the hash, so a setting added later at its
default keeps every branch key. What decides only *which* levels a branch runs is left out
too (`SCHEDULING`): a branch widened to more levels, another search or another control finds
the levels it already has. The ``none`` branch is the trained run itself: its key is the run
key, unchanged.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from typing import Any

from propensity.retrain.settings import CONTROLS, IMPSettings, RetrainSettings

# Fields that choose which levels or controls run, never what a level computes.
SCHEDULING: tuple[str, ...] = ("search", "stop_after_crossing", "min_density", "controls")
# Fields read only by the controls: an IMP level does not depend on them.
CONTROL_ONLY: tuple[str, ...] = ("control_seed",)


def branch_name(settings: RetrainSettings, control: str | None = None) -> str:
    """The regime's name in records and tables: ``none``, ``finetune``, ``imp`` or
    ``imp_<control>``."""
    if control is None:
        return settings.regime
    if not isinstance(settings, IMPSettings):
        raise ValueError(f"control={control!r} is a control of IMP, not of retrain={settings.regime}; "
                         "use retrain=imp")
    if control not in CONTROLS:
        raise ValueError(f"control={control!r} is unknown; use one of {', '.join(CONTROLS)}")
    return f"{settings.regime}_{control}"


def branch_settings(settings: RetrainSettings, control: str | None = None) -> dict[str, Any]:
    """The settings that identify the branch: those not at their default, less `SCHEDULING`
    and, for IMP itself, less the controls' own fields."""
    left_out = SCHEDULING + (CONTROL_ONLY if control is None else ())
    return {f.name: getattr(settings, f.name) for f in fields(settings)
            if f.name not in left_out and getattr(settings, f.name) != f.default}


def branch_key(run_key: str, settings: RetrainSettings, control: str | None = None) -> str:
    """``<run_key>.<branch_name>-<10 hex digits>``, or `run_key` itself for ``none``."""
    name = branch_name(settings, control)
    if name == "none":
        return run_key
    text = json.dumps({"run_key": run_key, "branch": name, **branch_settings(settings, control)},
                      sort_keys=True, default=str)
    return f"{run_key}.{name}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
