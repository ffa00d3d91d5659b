"""Building a config group's object with `hydra.utils.instantiate`, without its descriptive keys."""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

# Keys of a config group that describe it rather than being constructor arguments.
DESCRIPTIVE = ("name", "max_epochs", "default_lr")


def build(node: DictConfig, **kwargs: Any) -> Any:
    """`hydra.utils.instantiate` a config group, leaving out its descriptive keys; a
    constructor's own error surfaces as itself (its one-line message), not Hydra's wrapper."""
    params = {k: v for k, v in OmegaConf.to_container(node, resolve=True).items()
              if k not in DESCRIPTIVE}
    try:
        return instantiate(params, **kwargs)
    except InstantiationException as error:
        if error.__cause__ is None:
            raise
        raise error.__cause__ from None
