"""The pre-flight builds what it checks: each group's object from its target's signature and
constructor, the model for the data set's shapes, and a trial of every requested pruning
method on it; each refusal is one line naming the key."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from propensity.config.overrides import with_unknown_keys_forced
from propensity.config.preflight import problems
from propensity.identity import register_resolvers
from tests.conftest import FAST, run_cli

Compose = Callable[..., DictConfig]
register_resolvers()


def not_a_model(width: float, input_shape: tuple[int, ...], num_classes: int) -> dict[str, float]:
    """A model factory that forgot to return its model."""
    return {"width": width}

REFUSED = [
    (["+model.dropout=0.1"], "model.dropout=0.1: propensity.models.MLP takes no argument 'dropout'"),
    (["+data.batchsize=32"], "data.batchsize=32: propensity.data.DigitsDataModule takes no argument "
                             "'batchsize'; did you mean data.batch_size?"),
    (["stop=train_loss", "+stop.max_epoch=3"], "stop.max_epoch=3: propensity.engines.stopping."
                                               "StopAtTrainLoss takes no argument 'max_epoch'"),
    (["model=vit", "model.depth=two"], "model.depth=two: must be an integer"),
    (["data=mnist", "data.download=maybe"], "data.download=maybe: must be true or false"),
    (["model=vit", "pruning.method=obd"], "pruning.method=obd: cannot prune model=vit"),
    (["model=vit", "pruning.baselines=[units]"], "pruning.baselines[0]=units: cannot prune model=vit"),
    (["model._target_=tests.config.test_preflight_builds.not_a_model"],
     "model._target_=tests.config.test_preflight_builds.not_a_model: returned a dict, not a torch.nn.Module"),
]


@pytest.mark.parametrize(("overrides", "named"), REFUSED, ids=[" ".join(o) for o, _ in REFUSED])
def test_what_the_objects_refuse_is_one_line_naming_the_key(
    compose_cfg: Compose, overrides: list[str], named: str
) -> None:
    found = problems(compose_cfg(*FAST, *overrides))
    assert found and found[0].startswith(named), found
    assert "\n" not in found[0] and "; " in found[0]


def test_a_misspelt_key_is_passed_on_for_the_pre_flight_to_name() -> None:
    given = ["-m", "widht=0.5", "width=0.1,0.5", "data.batchsize=3", "+data.bs=2", "model=vit",
             "hydra.run.dir=x", "optim.lr=0.1", "-sc", "query=bash"]
    assert with_unknown_keys_forced(given) == [
        "-m", "++widht=0.5", "width=0.1,0.5", "++data.batchsize=3", "+data.bs=2", "model=vit",
        "hydra.run.dir=x", "optim.lr=0.1", "-sc", "query=bash"]


@pytest.mark.slow
@pytest.mark.parametrize(("argument", "line"), [
    ("widht=0.5", "config error: widht=0.5: is not a setting of propensity; did you mean width?"),
    ("data.batchsize=32", "config error: data.batchsize=32: propensity.data.DigitsDataModule takes no "
                          "argument 'batchsize'; did you mean data.batch_size?"),
])
def test_a_typo_is_one_line_on_stderr_and_leaves_no_folder(tmp_path: Path, argument: str, line: str) -> None:
    done = run_cli(argument, f"results_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == "" and done.stderr.splitlines() == [line]
    assert sorted(p.name for p in tmp_path.iterdir()) == [], sys.argv
