"""The local learning coefficient beside effective density (beyond the paper; section 5's proposal)."""

from propensity.llc.estimate import (
    INSTALL_HINT,
    LLCEstimate,
    LLCSettings,
    check_chains,
    devinterp_available,
    estimate_llc,
    require_devinterp,
)

__all__ = [
    "INSTALL_HINT",
    "LLCEstimate",
    "LLCSettings",
    "check_chains",
    "devinterp_available",
    "estimate_llc",
    "require_devinterp",
]
