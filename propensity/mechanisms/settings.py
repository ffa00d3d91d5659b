"""Which section-5 artifacts a run writes, read once from ``artifacts`` in ``train.yaml``.

Apart from `propensity.mechanisms.artifacts`, which computes and writes them with torch, so
that reading a run's settings (the entry point's ``--help`` among them) stays free of torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from propensity.specs import Flag, Spec, setting


@dataclass(frozen=True)
class ArtifactSettings(Spec):
    """Which section-5 artifacts a run writes (``artifacts.*``; all off by default, so large
    sweeps stay light)."""

    group: ClassVar[str] = "artifacts"
    weights: bool = setting(False, Flag())  # the prunable weights at initialisation and after training (5.1)
    correctness: bool = setting(False, Flag())  # one bit per validation image, and the predictions (5.2)
    activations: bool = setting(False, Flag())  # per-unit sparsity and class selectivity (5.3)

    @property
    def any(self) -> bool:
        return self.weights or self.correctness or self.activations
