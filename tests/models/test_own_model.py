"""A researcher's own model, in a package outside propensity/, through the whole pipeline.

``model._target_=mynets.TanhNet`` (Flatten, Linear, Tanh, LayerNorm, Linear) trains as a single
run and as a cohort of two through the one recipe, under its own name; the cohort is the
generic stack (`propensity.cohort.functional`), refused before training for a model it cannot
reproduce; the report includes the model.

Tolerance of a member against its single run: the generic stack's batched matrix products
sum each dot product (64 inputs, 32 hidden units) in another order than the single model's
``addmm``, a difference of a few float32 ulps (2^-24 relative each) per product and step.
Over the 2 x 19 SGD steps of these runs that stays near 1e-7 relative in the weights and
1e-7 in the losses (measured, 1 thread: at most 1.2e-7 in a loss, 6.3e-8 relative weight
distance, trajectories' accuracies equal and losses within 2e-7); asserted
at 1e-5 (losses ~0.5-2.3, absolute) and 1e-5 relative (Frobenius), as for the MLP, whose
layers are the same products. The accuracies and pruning trajectories agree to 0.5 point (a
sample near a tie may flip) and the effective densities are equal.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from propensity.config.validation import ConfigError
from propensity.mechanisms.artifacts import WEIGHTS_FINAL, artifact_path, load_weights
from propensity.run.recipe import train, train_cohort
from tests.conftest import CONF

MYNETS = '''
"""A researcher's own models: any nn.Module factory of width, input_shape and num_classes."""
import math

from torch import nn


class TanhNet(nn.Sequential):
    def __init__(self, width=1.0, input_shape=(1, 28, 28), num_classes=10):
        hidden = max(1, int(64 * width))
        super().__init__(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.Tanh(),
                         nn.LayerNorm(hidden), nn.Linear(hidden, num_classes))


class DropNet(nn.Sequential):
    def __init__(self, width=1.0, input_shape=(1, 28, 28), num_classes=10):
        hidden = max(1, int(64 * width))
        super().__init__(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.ReLU(),
                         nn.Dropout(0.2), nn.Linear(hidden, num_classes))


def no_width(input_shape, num_classes):
    return nn.Linear(math.prod(input_shape), num_classes)
'''
SMALL = ["data=digits", "width=0.5", "stop=epochs", "stop.max_epochs=2", "logger=none",
         "optim.lr=0.05", "pruning.step=0.1", "artifacts.weights=true"]
SEEDS = [(0, 0), (1, 0)]
LOSS_TOL, WEIGHT_TOL, ACC_TOL = 1e-5, 1e-5, 0.005


@pytest.fixture
def mynets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The package ``mynets`` in a temporary folder on the import path."""
    package = tmp_path / "src" / "mynets"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(MYNETS))
    monkeypatch.syspath_prepend(str(package.parent))
    return package.parent


def configs(results: Path, *overrides: str, seeds=SEEDS):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return [compose("train", overrides=[f"results_dir={results}", *SMALL, *overrides,
                                            f"init_seed={i}", f"data_seed={d}"]) for i, d in seeds]


def run_dir(results: Path, name: str, key: str) -> Path:
    return results / name / key


def test_own_model_trains_as_a_single_run_under_its_own_name(mynets: Path, tmp_path: Path) -> None:
    [cfg] = configs(tmp_path / "results", "model._target_=mynets.TanhNet", seeds=[(0, 0)])
    record = train(cfg)
    assert record.run_key.startswith("tanhnet-w0.5-sgd-glorot-i0-d0-") and record.model == "tanhnet"
    assert record.status == "finished" and record.effective_density is not None
    assert record.total_weights == 64 * 32 + 32 * 10  # both Linear layers; LayerNorm is no weight
    folder = run_dir(tmp_path / "results", "adhoc", record.run_key)
    assert (folder / "trajectory.csv").is_file() and (folder / "history.csv").is_file()


def test_own_model_cohort_members_equal_their_single_runs(mynets: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    singles = [train(c) for c in configs(results, "model._target_=mynets.TanhNet", "name=single")]
    members = train_cohort(configs(results, "model._target_=mynets.TanhNet", "name=cohort"))
    assert {m.cohort_size for m in members} == {2}
    for single, member in zip(singles, members, strict=True):
        assert member.run_key == single.run_key
        ours, theirs = run_dir(results, "cohort", member.run_key), run_dir(results, "single", single.run_key)
        history, reference = pd.read_csv(ours / "history.csv"), pd.read_csv(theirs / "history.csv")
        for column in ("train_loss", "val_loss"):
            assert (history[column] - reference[column]).abs().max() <= LOSS_TOL, column
        for column in ("train_acc", "val_acc"):
            assert history[column].tolist() == pytest.approx(reference[column].tolist(), abs=ACC_TOL)
        final, initial = (load_weights(artifact_path(d, WEIGHTS_FINAL)) for d in (ours, theirs))
        for layer, weight in initial.items():
            assert float((final[layer] - weight).norm() / weight.norm()) <= WEIGHT_TOL, layer
        trajectory, expected = pd.read_csv(ours / "trajectory.csv"), pd.read_csv(theirs / "trajectory.csv")
        assert trajectory.density.tolist() == expected.density.tolist()
        assert trajectory.val_acc.tolist() == pytest.approx(expected.val_acc.tolist(), abs=ACC_TOL)
        assert member.effective_density == single.effective_density
        assert member.test_acc == pytest.approx(single.test_acc, abs=ACC_TOL)


def test_a_model_the_generic_stack_cannot_reproduce_is_refused_before_training(
        mynets: Path, tmp_path: Path) -> None:
    cfgs = configs(tmp_path / "results", "model._target_=mynets.DropNet")
    with pytest.raises(ConfigError) as caught:
        train_cohort(cfgs)
    assert str(caught.value) == (
        "model._target_=mynets.DropNet: cannot train as a cohort: module '3' (Dropout, p=0.2) draws "
        "random numbers, which a cohort cannot draw as each single run draws them; use cohort=1 to "
        "train these runs one by one")
    assert not (tmp_path / "results").exists()  # nothing was trained or written
    assert train(cfgs[0]).status == "finished"  # alone, it trains


@pytest.mark.parametrize(("target", "message"), [
    ("mynets.NoSuchNet", "model._target_=mynets.NoSuchNet: cannot be imported"),
    ("mynets.no_width", "model._target_=mynets.no_width: takes no width argument; a model factory "
                        "takes width, input_shape and num_classes"),
])
def test_a_bad_model_target_is_one_line_before_any_data(mynets: Path, tmp_path: Path, target: str,
                                                        message: str) -> None:
    from propensity.config.settings import read_settings

    [cfg] = configs(tmp_path / "results", f"model._target_={target}", seeds=[(0, 0)])
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        read_settings(cfg)


def test_the_report_includes_the_own_model(mynets: Path, tmp_path: Path) -> None:
    from propensity.report.command_line import main as report

    results = tmp_path / "results"
    for cfg in configs(results, "model._target_=mynets.TanhNet", "name=own", seeds=[(0, 0), (1, 0)]):
        train(cfg)
    assert report([str(results / "own"), "--out", str(tmp_path / "report")]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "tanhnet/SGD · digits" in text
    table2 = pd.read_csv(tmp_path / "report" / "tables" / "table2.csv")
    assert table2.astype(str).apply(lambda c: c.str.contains("tanhnet")).any().any()


def test_own_model_writes_the_section_5_artifacts_and_its_learning_coefficient(
        mynets: Path, tmp_path: Path) -> None:
    """Each member of a cohort of the own model writes what a single run of the paper's writes:
    its weights, correctness bits, unit statistics of its Tanh layer (read by a forward hook,
    the model defining no ``hidden``) and an LLC estimate with its chains' traces."""
    import math

    import numpy as np

    from propensity.analysis.activations import layer_summary
    from propensity.mechanisms.artifacts import ACTIVATIONS, CORRECTNESS, load_activation_statistics

    extra = ["model._target_=mynets.TanhNet", "artifacts.correctness=true", "artifacts.activations=true",
             "llc=sgld", "llc.num_chains=2", "llc.num_draws=10"]
    for record in train_cohort(configs(tmp_path / "results", *extra)):
        folder = run_dir(tmp_path / "results", "adhoc", record.run_key)
        assert math.isfinite(record.llc_mean) and (folder / "llc_traces.csv").is_file()
        stats = load_activation_statistics(artifact_path(folder, ACTIVATIONS))
        assert list(stats) == ["2"]  # the Tanh module, under its name in the Sequential
        assert stats["2"]["hoyer"].shape == (32,) and np.isfinite(stats["2"]["selectivity"]).all()
        assert artifact_path(folder, CORRECTNESS).is_file()
        assert not layer_summary(stats).empty


def test_own_model_in_the_quickstart_regime_with_every_pruning_baseline(mynets: Path, tmp_path: Path) -> None:
    """The demo's regime (random, global-magnitude and edge-popup baselines beside magnitude
    pruning, every artifact) for a cohort of the own model: each member has every method's ED."""
    cfgs = configs(tmp_path / "results", "experiment=quickstart", "model._target_=mynets.TanhNet",
                   "stop=train_loss", "stop.max_epochs=2", "pruning.edge_popup.epochs=1",
                   "pruning.edge_popup.densities=[0.5]")
    for record in train_cohort(cfgs):
        assert record.cohort_size == 2 and record.model == "tanhnet"
        assert set(record.ed_by_method) == {"magnitude", "random", "global_magnitude", "edge_popup"}
        frame = pd.read_csv(run_dir(tmp_path / "results", "quickstart", record.run_key) / "trajectory.csv")
        assert set(frame["method"]) == set(record.ed_by_method)


@pytest.mark.slow
def test_a_cohort_sweep_of_a_model_that_cannot_stack_stops_before_any_job(
        mynets: Path, tmp_path: Path) -> None:
    """The multirun a researcher starting from the paper's configs runs: the refusal is one line
    from the sweeper, before any job is launched (no run folder, no job folder)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "PYTHONPATH": f"{mynets}{os.pathsep}{ROOT}", "WANDB_MODE": "offline"}
    done = subprocess.run([sys.executable, "-m", "propensity.train", "-m", "model._target_=mynets.DropNet",
                           "data=digits", "init_seed=0,1", "cohort=2", f"results_dir={tmp_path / 'r'}",
                           "logger=none"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in log
    [line] = [x for x in log.splitlines() if "sweep not launched" in x]
    assert line.endswith("sweep not launched: model._target_=mynets.DropNet: cannot train "
                         "as a cohort: module '3' (Dropout, p=0.2) draws random numbers, which a cohort "
                         "cannot draw as each single run draws them; use cohort=1 to train these runs "
                         "one by one")
    assert not (tmp_path / "r").exists() and not (tmp_path / "multirun").exists()


def test_the_run_key_covers_the_model_target_and_its_arguments(mynets: Path, compose_cfg) -> None:
    from propensity.identity import run_key

    paper, own = compose_cfg(), compose_cfg("model._target_=mynets.TanhNet")
    assert run_key(own).startswith("tanhnet-") and run_key(own)[8:] != run_key(paper)[4:]
    vit = run_key(compose_cfg("model=vit"))
    assert run_key(compose_cfg("model=vit", "model.depth=4")) == vit  # the default: same run
    assert run_key(compose_cfg("model=vit", "model.depth=2")) != vit
    assert run_key(compose_cfg("model=vit", "model.patch_size=7")) != vit


def test_obd_on_the_own_tanh_model_is_refused_before_training_and_obd_gn_is_recorded_as_such(
        mynets: Path, tmp_path: Path) -> None:
    """OBD's exact Hessian diagonal takes only networks piecewise linear in their weights: the
    README's Tanh-LayerNorm example is refused by the pre-flight, in one line naming the module,
    before anything trains; its Gauss-Newton form runs under its own name."""
    from propensity.config import preflight

    own = "model._target_=mynets.TanhNet"
    [cfg] = configs(tmp_path / "results", own, "pruning.method=obd", seeds=[(0, 0)])
    [line] = preflight.problems(cfg)
    assert line.startswith("pruning.method=obd: cannot prune model=tanhnet: module '2' (Tanh) applies "
                           "tanh, so the network is not piecewise linear in its weights")
    assert line.endswith("; use obd_gn (the Gauss-Newton diagonal, recorded as obd_gn) or snip")
    with pytest.raises(ConfigError, match=r"^pruning\.method=obd: "):
        train(cfg)
    assert not (tmp_path / "results").exists()  # nothing was trained or written
    [baseline] = configs(tmp_path / "results", own, "pruning.baselines=[snip,obd]", seeds=[(0, 0)])
    assert preflight.problems(baseline)[0].startswith("pruning.baselines[1]=obd: cannot prune model=tanhnet")

    [cfg] = configs(tmp_path / "results", own, "pruning.baselines=[obd_gn]", seeds=[(0, 0)])
    assert preflight.problems(cfg) == []
    record = train(cfg)
    assert set(record.ed_by_method) == {"magnitude", "obd_gn"}
    frame = pd.read_csv(run_dir(tmp_path / "results", "adhoc", record.run_key) / "trajectory.csv")
    assert set(frame["method"]) == {"magnitude", "obd_gn"}
