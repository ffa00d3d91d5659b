"""The speed benchmarks in ``benchmarks/`` still run against the current APIs.

Each benchmark's ``main`` runs at its smallest sizes, as ``python benchmarks/<name>.py`` would
(its folder first on ``sys.path``, so the benchmarks' imports of each other resolve). Only
that it runs and prints its ratio lines is asserted: timings on a shared test machine say
nothing, so no figure is checked.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

BENCHMARKS = ROOT / "benchmarks"
RATIO = r"\d+\.\d\dx"


@pytest.fixture
def run_benchmark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[..., str]]:
    """Run benchmark `name`'s main with `args`; return what it printed. The benchmarks'
    modules (``cohort``, ``train_epoch``, ...) leave ``sys.modules`` again afterwards."""
    names = {path.stem for path in BENCHMARKS.glob("*.py")}
    monkeypatch.syspath_prepend(str(BENCHMARKS))

    def run(name: str, *args: str) -> str:
        module = importlib.import_module(name)
        capsys.readouterr()
        module.main(list(args))
        return capsys.readouterr().out

    yield run
    for name in names & set(sys.modules):
        del sys.modules[name]


def lines_matching(pattern: str, out: str) -> list[str]:
    return [line for line in out.splitlines() if re.search(pattern, line)]


def test_train_epoch(run_benchmark: Callable[..., str]) -> None:
    out = run_benchmark("train_epoch", "--quick")
    ratios = lines_matching(rf"\d s +{RATIO}$", out)
    assert [line.split("  ")[1] for line in ratios] == [
        "plain loop, in-memory tensors", "plain loop, DataLoader(TensorDataset)",
        "propensity (fit_one: Lightning engine)",
    ], out
    assert ratios[0].endswith(" 1.00x"), out  # the floor is the baseline


def test_cohort(run_benchmark: Callable[..., str]) -> None:
    out = run_benchmark("cohort", "--quick", "--members", "2", "--cases", "mlp:0.1",
                        "--levels-at-once", "2")
    assert len(lines_matching(rf"^mlp 0\.1x epoch .* 2 singles .* cohort .*\| +{RATIO}$", out)) == 1, out
    assert len(lines_matching(rf"^mlp 0\.1x sweep .* 2 singles .* cohort .*\| +{RATIO}$", out)) == 1, out
    assert len(lines_matching(rf"2 levels a forward: .*{RATIO} the singles, +{RATIO} one level", out)) == 1


def test_grid_cost(run_benchmark: Callable[..., str]) -> None:
    out = run_benchmark("grid_cost", "--quick", "--members", "2", "--widths", "0.1")
    assert len(lines_matching(rf"^ +0\.1 \|.*{RATIO} \|.*{RATIO} \|", out)) == 1, out
    totals = lines_matching(rf"^QUICK sizes, widths 0\.1 only, 100-run grid .*\({RATIO} faster\)", out)
    assert len(totals) == 3, out  # one per epoch count


def test_prune_trajectory(run_benchmark: Callable[..., str]) -> None:
    out = run_benchmark("prune_trajectory", "--quick", "--widths", "0.1", "--levels-at-once", "1", "2")
    sweeps = lines_matching(rf"sweep K=\d: .* speedup {RATIO}; .* accuracies identical at every level", out)
    assert [line.split(":")[0].strip() for line in sweeps] == ["sweep K=1", "sweep K=2"], out


def test_llc_cost(run_benchmark: Callable[..., str]) -> None:
    pytest.importorskip("devinterp", reason="the LLC needs pip install propensity[llc]")
    out = run_benchmark("llc_cost", "--quick")
    assert len(lines_matching(r"^ +digits +1197 +\d+\.\d\d +\d+\.\d\d +\d+\.\d\d$", out)) == 1, out


def test_threads(run_benchmark: Callable[..., str]) -> None:
    out = run_benchmark("threads", "--quick", "--busy", "0")
    rows = lines_matching(rf"M MACs/step \| 1 thread .* \| +{RATIO} \| single run: \d+$", out)
    names = [line.split("  ")[1] for line in rows]
    assert names == ["MLP 1x, digits (the default run)", "MLP 0.1x, MNIST"], out


def test_retrain_cost(run_benchmark: Callable[..., str]) -> None:
    out = run_benchmark("retrain_cost", "--quick", "--widths", "0.1", "--members", "2")
    costs = lines_matching(rf"^MLP 0\.1x: .* {RATIO}$", out)
    assert [line.split(":")[1].split("  ")[0].strip() for line in costs] == [
        "dense run", "finetune", "imp, no controls", "imp with reinit and random"], out
    assert len(lines_matching(rf"^MLP 0\.1x, K=2: (training|IMP) .* cohort +{RATIO}$", out)) == 2, out
    assert len(lines_matching(rf"the IMP speed-up is {RATIO} the training speed-up$", out)) == 1, out
