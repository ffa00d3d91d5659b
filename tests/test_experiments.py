"""Every experiment config composes and trains a few steps (lightning-hydra-template's experiment test).

Each of ``propensity/conf/experiment/*.yaml`` is one of the paper's regimes (or the demo). The
test composes it as a user would, swaps its data set for random tensors of the same shape
(``data=synthetic``, so no download is needed), shrinks the run to one epoch at width 0.1 and
checks that it trains and, unless one epoch left it at chance (recorded as untrained), prunes
and records an effective density.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from propensity.config.build import build
from propensity.run.recipe import train
from tests.conftest import CONF

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
# The MLP regimes train in about two seconds; the convolutional ones take longer and are slow.
CASES = [
    e if "override /model: mlp" in (CONF / "experiment" / f"{e}.yaml").read_text()
    else pytest.param(e, marks=pytest.mark.slow)
    for e in EXPERIMENTS
]
# The experiment's own stop rule, bounded at one epoch on 256 images at width 0.1; pruned in
# four levels, edge-popup for one epoch.
SMALL = ["width=0.1", "stop.max_epochs=1", "logger=none", "data.train_size=256",
         "data.val_size=64", "data.test_size=64", "pruning.step=0.25",
         "pruning.edge_popup.epochs=1", "pruning.edge_popup.densities=[0.5]"]

# A retraining experiment's branch, bounded alike: two IMP levels of one epoch.
BRANCH = {"quickstart_retrain": ["retrain.min_density=0.7", "retrain.max_epochs=1"]}


def test_every_experiment_is_tested():
    paper = {"mlp_sgd", "conv2_adam", "conv2_adagrad", "resnet_sgd"}
    assert paper | {"quickstart", "vit_adam"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", CASES)
def test_experiment_composes_and_trains_on_data_of_its_shape(experiment, compose_cfg, tmp_path: Path):
    data = build(compose_cfg(f"experiment={experiment}").data)  # builds, loads nothing
    shape = ",".join(str(d) for d in data.input_shape)
    cfg = compose_cfg(
        f"experiment={experiment}", "data=synthetic", f"data.input_shape=[{shape}]",
        f"data.num_classes={data.num_classes}", *SMALL, *BRANCH.get(experiment, []),
    )
    assert cfg.name == experiment and list(cfg.data.input_shape) == list(data.input_shape)
    record = train(cfg)
    run_dir = Path(cfg.results_dir) / experiment / record.run_key
    assert (run_dir / "history.csv").is_file() and record.epochs_trained == 1
    # One epoch may leave a model at chance: the recipe then records it as untrained, no ED.
    assert record.status in ("finished", "max_epochs_reached", "untrained"), record.error
    if experiment in BRANCH and record.status != "untrained":
        assert "imp" in record.ed_by_regime
    if record.status != "untrained":
        assert (run_dir / "trajectory.csv").is_file()
        assert record.effective_density is not None and 0 <= record.effective_density <= 1


@pytest.mark.parametrize("experiment", ["mlp_sgd", "conv2_adam", "conv2_adagrad", "resnet_sgd", "vit_adam"])
def test_paper_grids_run_as_cohorts_of_one_data_seed(experiment) -> None:
    """The multirun of a paper regime: every cell's 50 seeds in 5 cohorts of 10 init seeds."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from propensity.launch.grouping import MEMBERS_KEY, group_jobs

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}"], return_hydra_config=True)
    params = [f"{key}={value}" for key, value in cfg.hydra.sweeper.params.items()]
    [jobs] = BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(params), None)
    cohorts = group_jobs(jobs, cfg.cohort)
    assert len(cohorts) == len(jobs) // 10
    for job in cohorts:
        [members] = [a.split("=", 1)[1] for a in job if a.startswith(f"+{MEMBERS_KEY}=")]
        pairs = [tuple(map(int, p.split(","))) for p in members[2:-2].split("],[")]
        assert sorted(i for i, _ in pairs) == list(range(10)) and len({d for _, d in pairs}) == 1


@pytest.mark.parametrize("name", ["fashion_mnist", "svhn", "cifar100"])
@pytest.mark.parametrize("model", ["mlp", "vit"])
def test_each_data_set_composes_with_a_model_and_trains_on_data_of_its_shape(name: str, model: str,
                                                                              compose_cfg) -> None:
    data = build(compose_cfg(f"data={name}").data)  # builds, loads nothing
    shape = ",".join(str(d) for d in data.input_shape)
    cfg = compose_cfg(f"model={model}", "data=synthetic", f"data.input_shape=[{shape}]",
                      f"data.num_classes={data.num_classes}", "data.train_size=128", "data.val_size=32",
                      "data.test_size=32", "width=0.1", "stop=epochs", "stop.max_epochs=1", "logger=none",
                      "pruning.step=0.25", *(["model.depth=1"] if model == "vit" else []))
    record = train(cfg)
    assert record.epochs_trained == 1 and record.status in ("finished", "untrained"), record.error
