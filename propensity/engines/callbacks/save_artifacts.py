"""Write a run's section-5 artifacts from inside a researcher's own Trainer: thin glue over
`propensity.mechanisms.artifacts`, whose two writers the recipe calls for every run."""

from __future__ import annotations

from pathlib import Path

import lightning as L
from torch import nn

from propensity.mechanisms.artifacts import ArtifactSettings, save_final_artifacts, save_initial_weights


def _network(pl_module: L.LightningModule) -> nn.Module:
    """The architecture inside the LightningModule (its ``model`` attribute if it has one),
    so weight names read ``fc1.weight`` as in Tables 3 and 4 and ``hidden`` is reachable."""
    inner = getattr(pl_module, "model", None)
    return inner if isinstance(inner, nn.Module) else pl_module


class SaveArtifacts(L.Callback):
    """Save the opt-in artifacts of section 5 into ``<run_dir>/artifacts/``.

    ``weights``: the prunable weights at the start of a *fresh* fit (not when resuming from a
    checkpoint: the first attempt wrote them, and the restored weights are not the init) and
    at the end. ``correctness`` and ``activations``: computed on the data module's
    ``x_val, y_val`` at the end of fit. Place this callback after any callback that restores
    the best weights at ``on_fit_end``, so the final artifacts describe the model that is pruned.
    """

    def __init__(self, run_dir: str | Path, weights: bool = False, correctness: bool = False,
                 activations: bool = False, batch_size: int = 1024) -> None:
        self.run_dir = Path(run_dir)
        self.settings = ArtifactSettings(weights, correctness, activations)
        self.batch_size = batch_size

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # At on_fit_start Lightning has restored a checkpoint's weights but not yet its epoch
        # counter, so a resume is recognised by the checkpoint path.
        fresh = trainer.ckpt_path is None and trainer.current_epoch == 0
        if self.settings.weights and fresh and trainer.is_global_zero:
            save_initial_weights(_network(pl_module), self.run_dir)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        data = trainer.datamodule
        save_final_artifacts(_network(pl_module), self.run_dir, self.settings, data.x_val, data.y_val,
                             getattr(data, "num_classes", None), self.batch_size)
