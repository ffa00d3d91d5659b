"""Typed settings written once: each field's type, default, check and identity in one place.

As in open_lth's ``Hparams``, a group of settings is a frozen dataclass, and each of its fields
is declared with `setting`, which keeps the field's check (one of the checks in
`propensity.specs.checks`) and whether it is logistics (where or how a run happens, never what
it computes) beside it. `Spec`, the base of every such dataclass, runs the checks when the
settings are built and refuses a bad value in the project's one line, ``key=value: problem;
fix`` (`SettingError`), before any data loads. The science packages declare their settings
this way without knowing the config system that fills them.
"""

from propensity.specs.checks import (
    MAX_COUNT,
    MAX_SEED,
    Check,
    Choice,
    Flag,
    Labels,
    Number,
    Numbers,
    Optional,
    SettingError,
    refuse,
    show,
)
from propensity.specs.fields import Spec, key_of, later_defaults, logistics, setting, setting_fields

__all__ = [
    "MAX_COUNT",
    "MAX_SEED",
    "Check",
    "Choice",
    "Flag",
    "Labels",
    "Number",
    "Numbers",
    "Optional",
    "SettingError",
    "Spec",
    "key_of",
    "later_defaults",
    "logistics",
    "refuse",
    "setting",
    "setting_fields",
    "show",
]
