"""A run's identity: its resolved scientific config, hashed into a stable run key.

As in open_lth's hashed experiment directories, asking for the same experiment twice finds
the first one's results: `<results_dir>/<name>/<run_key>/`. Only what changes the science
enters the hash (model, width, data and split, optimiser, init, stop rule, seeds, pruning,
artifacts); where and how it runs (logger, launcher, devices, results_dir, resume) does not.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

# Data keys that say where the files are or how fast they are read, not what they are, and
# the data set's default_lr, which is hashed where it takes effect (as optim.lr).
_DATA_LOGISTICS = ("root", "download", "eval_batch_size", "verify_checksums", "whole_epoch",
                   "default_lr")


def scientific_config(cfg: DictConfig) -> dict[str, Any]:
    """The part of the resolved config that defines the experiment."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(resolved, dict)
    data = {k: v for k, v in resolved["data"].items() if k not in _DATA_LOGISTICS}
    return {
        "model": resolved["model"],
        "width": float(resolved["width"]),
        "data": data,
        "optim": resolved["optim"],
        "init": resolved["init"],
        "stop": resolved["stop"],
        "init_seed": int(resolved["init_seed"]),
        "data_seed": int(resolved["data_seed"]),
        "pruning": resolved["pruning"],
        "artifacts": resolved.get("artifacts", {}),
    }


def run_key(cfg: DictConfig) -> str:
    """Readable prefix plus a 10-hex-digit hash, e.g. ``mlp-w0.5-sgd-glorot-i0-d0-3f9a0c1b2d``."""
    science = scientific_config(cfg)
    digest = hashlib.sha256(json.dumps(science, sort_keys=True).encode()).hexdigest()[:10]
    return (
        f"{cfg.model.name}-w{float(cfg.width):g}-{cfg.optim.name}-{cfg.init.scheme}"
        f"-i{cfg.init_seed}-d{cfg.data_seed}-{digest}"
    )


def batch_seed(init_seed: int, data_seed: int) -> int:
    """The seed of the batch order, drawn from both seeds (issue 2: 'seeded from both')."""
    return int(hashlib.sha256(f"{init_seed}/{data_seed}".encode()).hexdigest()[:8], 16)
