"""The pre-flight: what would fail inside a job is found before any data loads, in one line
naming the key; a sweep bound to fail is refused before any job is launched."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from propensity.config.preflight import problems
from propensity.config.validation import ConfigError
from propensity.data.digits import DigitsDataModule
from propensity.run.recipe import train
from tests.conftest import FAST, run_cli

Compose = Callable[..., DictConfig]

# (overrides, the key the line must name): keywords torch's optimisers or Lightning's Trainer
# reject, by name (not an argument) or by value (their own checks).
BAD_KEYWORDS = [
    (["+optim.momentm=0.9"], "optim.momentm=0.9: torch.optim.SGD takes no argument 'momentm'"),
    (["+optim.momentum=-1"], "optim.momentum=-1:"),
    (["+optim.weight_decay=-0.5"], "optim.weight_decay=-0.5:"),
    (["+optim.nesterov=true"], "optim.nesterov=True:"),  # needs momentum > 0
    (["optim=adam", "+optim.betas=[0.9,1.5]"], "optim.betas=[0.9, 1.5]:"),
    (["optim=adam", "+optim.eps=-1"], "optim.eps=-1:"),
    (["optim=adagrad", "+optim.lr_decay=-1"], "optim.lr_decay=-1:"),
    (["+trainer.max_epoch=3"], "trainer.max_epoch=3: lightning.Trainer takes no argument 'max_epoch'"),
    (["+trainer.precision=banana"], "trainer.precision=banana:"),
    (["+trainer.gradient_clip_algorithm=clip"], "trainer.gradient_clip_algorithm=clip:"),
    (["+trainer.max_steps=-5"], "trainer.max_steps=-5:"),
    (["+trainer.limit_train_batches=-1"], "trainer.limit_train_batches=-1:"),
    (["+trainer.val_check_interval=-1"], "trainer.val_check_interval=-1:"),
]


@pytest.fixture
def no_data_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    def load(self: DigitsDataModule) -> None:
        raise AssertionError("the data set was loaded before the pre-flight refused the run")

    monkeypatch.setattr(DigitsDataModule, "load", load)


@pytest.mark.parametrize(("overrides", "named"), BAD_KEYWORDS, ids=[" ".join(o) for o, _ in BAD_KEYWORDS])
def test_a_bad_keyword_fails_before_any_data_loads_naming_the_key(
    compose_cfg: Compose, no_data_loads: None, overrides: list[str], named: str
) -> None:
    cfg = compose_cfg(*FAST, *overrides)
    with pytest.raises(ConfigError) as refused:
        train(cfg)
    line = str(refused.value)
    assert line.startswith(named) and "\n" not in line and "; " in line
    assert not list(Path(cfg.results_dir).rglob("record.json"))  # no run was started


def test_the_default_config_passes(compose_cfg: Compose) -> None:
    assert problems(compose_cfg(*FAST)) == []
    assert problems(compose_cfg(*FAST, "optim=adam", "+optim.amsgrad=true", "+trainer.precision=32")) == []


def test_a_missing_data_set_is_one_line_naming_where_it_was_looked_for(
    compose_cfg: Compose, tmp_path: Path
) -> None:
    for data in ("mnist", "cifar10"):
        [line] = problems(compose_cfg(f"data={data}", f"data.root={tmp_path / 'none'}"))
        assert line.startswith(f"data.root={tmp_path / 'none'}: ") and "not found under" in line
        assert "data.download=true" in line


def test_mnist_files_present_are_not_missing(compose_cfg: Compose, tmp_path: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"")
    assert problems(compose_cfg("data=mnist", f"data.root={tmp_path}")) == []


@pytest.mark.parametrize(("override", "named"), [
    ("+widht=2", "widht=2: is not a setting of propensity; did you mean width?"),
    ("cohort=0", "cohort=0: must be in [1,"),
    ("progress=maybe", "progress=maybe: must be true or false"),
    ("tags=pilot", "tags=pilot: must be a list of labels"),
])
def test_top_level_keys_are_checked_in_a_single_run_as_in_a_sweep(
    compose_cfg: Compose, no_data_loads: None, override: str, named: str
) -> None:
    with pytest.raises(ConfigError, match="^" + named.replace("[", r"\[").replace("?", r"\?")):
        train(compose_cfg(*FAST, override))


@pytest.mark.slow
def test_a_sweep_over_a_missing_data_set_is_refused_in_one_line_launching_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_cli("-m", "data=mnist", f"data.root={tmp_path / 'none'}", "init_seed=range(10)",
                   f"results_dir={tmp_path / 'r'}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                   "logger=none", cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr[-2000:]
    lines = [x for x in (done.stdout + done.stderr).splitlines() if x.strip()]
    assert len(lines) == 1 and "sweep not launched: data.root=" in lines[0], lines
    assert lines[0].endswith("(10 of 10 jobs)")
    assert not (tmp_path / "r").exists()
    assert not (tmp_path / "sweep").exists()  # a refused sweep leaves no folder behind
    print(f"refused in {elapsed:.1f}s")  # the interpreter's start and imports, then one check each


@pytest.mark.slow
def test_a_sweep_with_bad_keywords_names_each_and_launches_nothing(tmp_path: Path) -> None:
    done = run_cli("-m", *FAST, "+optim.momentm=0.9", "+trainer.precision=banana,32", "width=0.1,0.5",
                   f"results_dir={tmp_path / 'r'}", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert done.returncode == 1
    lines = [x for x in (done.stdout + done.stderr).splitlines() if "sweep not launched" in x]
    assert any("optim.momentm=0.9: torch.optim.SGD takes no argument" in x and "(4 of 4 jobs)" in x
               for x in lines), lines
    assert any("trainer.precision=banana: " in x and "(2 of 4 jobs)" in x for x in lines), lines
    assert not (tmp_path / "r").exists() and not (tmp_path / "sweep").exists()


def test_obd_takes_the_papers_networks_and_refuses_the_vit_naming_its_module(compose_cfg: Compose) -> None:
    for model in ("mlp", "conv2", "resnet"):
        assert problems(compose_cfg(f"model={model}", "data=digits", "pruning.method=obd")) == [], model
    [line] = problems(compose_cfg("model=vit", "data=digits", "pruning.baselines=[random,obd_lamp]"))
    assert line.startswith("pruning.baselines[1]=obd_lamp: cannot prune model=vit: "), line
    assert "module 'blocks.0.norm1' (LayerNorm) applies layer_norm" in line, line
