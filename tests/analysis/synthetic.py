"""Hand-made result tables with the schema of `propensity.collect`, for the analysis tests.

The numbers are made up (ED falls slowly with width, unpruned counts grow), so figures and
tables have something realistic to draw; the tests check arithmetic against them, never a
finding.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import SimpleNamespace

import numpy as np
import pandas as pd

THRESHOLDS = (0.01, 0.02, 0.05, 0.1)


def mlp_digits_weights(width: float) -> int:
    """Prunable weights of the MLP on 8x8 digits: 64*h1 + h1*h2 + 10*h2."""
    h1, h2 = int(300 * width), int(100 * width)
    return 64 * h1 + h1 * h2 + 10 * h2


def run_row(**overrides: object) -> dict[str, object]:
    """One runs-table row with every column of the schema; `overrides` set the interesting ones."""
    row: dict[str, object] = {
        "run_key": "r0",
        "run_dir": "/results/x/r0",
        "experiment": "test",
        "status": "finished",
        "model": "mlp",
        "data": "digits",
        "optim": "sgd",
        "lr": 0.01,
        "init": "glorot",
        "width": 1.0,
        "init_seed": 0,
        "data_seed": 0,
        "stop": "train_loss",
        "batch_size": 64,
        "total_weights": 1000,
        "stop_epoch": 5,
        "epochs_trained": 5,
        "stop_target_met": True,
        "train_loss": 0.2,
        "train_acc": 0.95,
        "val_loss": 0.25,
        "val_acc": 0.93,
        "test_loss": 0.26,
        "test_acc": 0.92,
        "pruning_method": "magnitude",
        "schedule": "original",
        "threshold": 0.05,
        "threshold_mode": "absolute",
        "base_val_acc": 0.93,
        "effective_density": 0.5,
        "ed_last_pass": 0.52,
        "unpruned_weights": 500,
        "never_degraded": False,
        "wall_time_s": 1.0,
    }
    row |= {f"ed_{t}": row["effective_density"] for t in THRESHOLDS}
    row.update(overrides)
    return row


def make_tables(
    widths: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0),
    init_seeds: tuple[int, ...] = (0, 1, 2),
    data_seeds: tuple[int, ...] = (0, 1),
    inits: tuple[str, ...] = ("glorot", "he"),
    model_types: tuple[tuple[str, str], ...] = (("mlp", "sgd"), ("conv2", "adam")),
    broken: bool = True,
    seed: int = 0,
    ed_of: Callable[[str], float] | None = None,
) -> SimpleNamespace:
    """Runs, trajectories and histories of a small made-up sweep (plus a failed and a
    diverged run when `broken`); `ed_of(run_key)`, when given, sets each run's ED."""
    rng = np.random.default_rng(seed)
    runs, trajectories, histories = [], [], []
    for model, optim in model_types:
        for width in widths:
            total = mlp_digits_weights(width) * (1 if model == "mlp" else 3)
            for init in inits:
                for init_seed in init_seeds:
                    for data_seed in data_seeds:
                        key = f"{model}-{optim}-{width:g}-{init}-{init_seed}-{data_seed}"
                        ed = float(
                            np.clip(0.55 - 0.06 * np.log2(width) + rng.normal(0, 0.04), 0.02, 1)
                        )
                        if ed_of is not None:
                            ed = ed_of(key)
                        epochs = int(rng.integers(4, 9))
                        row = run_row(
                            run_key=key,
                            run_dir=f"/results/{key}",
                            model=model,
                            optim=optim,
                            lr=0.01 if optim == "sgd" else 2e-4,
                            init=init,
                            width=width,
                            init_seed=init_seed,
                            data_seed=data_seed,
                            total_weights=total,
                            stop_epoch=epochs,
                            epochs_trained=epochs,
                            effective_density=ed,
                            ed_last_pass=ed + 0.02,
                            unpruned_weights=round(ed * total),
                            **{f"ed_{t}": float(min(1.0, ed * (1.2 - 2 * t))) for t in THRESHOLDS},
                        )
                        runs.append(row)
                        levels = np.arange(0, 51)
                        density = 1 - 0.02 * levels
                        acc = 0.93 - 0.8 / (1 + np.exp((density - ed + 0.03) / 0.03))
                        trajectories.append(
                            pd.DataFrame(
                                {
                                    "run_key": key,
                                    "method": "magnitude",
                                    "level": levels,
                                    "density": density,
                                    "remaining_weights": np.round(density * total),
                                    "val_acc": acc + rng.normal(0, 0.005, len(levels)),
                                    "val_loss": 2.3 - 2 * acc,
                                }
                            )
                        )
                        epoch = np.arange(1, epochs + 1)
                        histories.append(
                            pd.DataFrame(
                                {
                                    "run_key": key,
                                    "epoch": epoch,
                                    "train_loss": 1.5 / epoch,
                                    "train_acc": 1 - 0.5 / epoch,
                                    "val_loss": 1.6 / epoch + 0.05,
                                    "val_acc": 1 - 0.55 / epoch,
                                }
                            )
                        )
    if broken:
        runs.append(
            run_row(
                run_key="failed-1",
                status="failed",
                effective_density=None,
                unpruned_weights=None,
                stop_epoch=None,
            )
        )
        runs.append(
            run_row(
                run_key="diverged-1",
                status="diverged",
                effective_density=None,
                unpruned_weights=None,
                stop_epoch=2,
            )
        )
    frame = pd.DataFrame(runs)
    frame["unpruned_weights"] = frame["unpruned_weights"].astype("Int64")
    frame["stop_epoch"] = frame["stop_epoch"].astype("Int64")
    return SimpleNamespace(
        runs=frame,
        trajectories=pd.concat(trajectories, ignore_index=True),
        histories=pd.concat(histories, ignore_index=True),
    )


def degenerate_tables() -> SimpleNamespace:
    """One model type, one width, one seed: the smallest input every function must survive."""
    return make_tables(
        widths=(1.0,),
        init_seeds=(0,),
        data_seeds=(0,),
        inits=("glorot",),
        model_types=(("mlp", "sgd"),),
        broken=False,
    )


# ED at 1x per regime in `regime_tables`: retraining keeps accuracy with fewer weights.
ED_AT_1X = {"none": 0.3, "finetune": 0.15, "imp": 0.08, "imp_reinit": 0.12, "imp_random": 0.14}


def regime_tables(
    exponents: Mapping[str, float],
    widths: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0),
    data_seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5),
    slope_sd: float = 0.05,
    noise: float = 0.02,
    seed: int = 0,
) -> SimpleNamespace:
    """A made-up MLP sweep (one init seed, several data seeds) whose runs carry retraining
    regimes with known exponents: under regime r a run's core is
    ``ED_AT_1X[r] * total_1x * (total / total_1x) ** (exponents[r] + s_c) * exp(e)``, where
    s_c ~ N(0, `slope_sd`) is its data seed's slope deviation, shared by every regime (the
    split's own tilt), and e ~ N(0, `noise`) is the run's own, drawn per regime. ``none``
    is the run's own ED too; ``regimes`` has the schema of ``regimes.parquet``."""
    rng = np.random.default_rng(seed)
    total_1x = mlp_digits_weights(1.0)
    tilt = {d: rng.normal(0, slope_sd) for d in data_seeds}
    eds: dict[str, dict[str, float]] = {r: {} for r in exponents}
    rows = []
    for width in widths:
        total = mlp_digits_weights(width)
        for data_seed in data_seeds:
            key = f"mlp-sgd-{width:g}-glorot-0-{data_seed}"
            for regime, b in exponents.items():
                core = ED_AT_1X[regime] * total_1x * (total / total_1x) ** (b + tilt[data_seed])
                ed = float(min(1.0, core * np.exp(rng.normal(0, noise)) / total))
                eds[regime][key] = ed
                rows.append({"run_key": key, "regime": regime, "effective_density": ed,
                             "ed_last_pass": min(1.0, ed + 0.02), "level": 10,
                             "unpruned_weights": round(ed * total), "never_degraded": False,
                             "matching_density": ed + 0.02, "base_val_acc": 0.93,
                             "levels_measured": 21})
    tables = make_tables(widths=widths, init_seeds=(0,), data_seeds=data_seeds, inits=("glorot",),
                         model_types=(("mlp", "sgd"),), broken=False, seed=seed,
                         ed_of=eds["none"].__getitem__)
    regimes = pd.DataFrame(rows)
    for column, dtype in (("level", "Int64"), ("unpruned_weights", "Int64"),
                          ("never_degraded", "boolean"), ("levels_measured", "Int64")):
        regimes[column] = regimes[column].astype(dtype)
    tables.regimes = regimes
    return tables


def with_methods(
    tables: SimpleNamespace, methods: tuple[str, ...], trajectories_for: tuple[str, ...] = ()
) -> SimpleNamespace:
    """`tables` with every method's ED and unpruned weights per run, as the collector writes
    them (``effective_density_<method>``), each method a little denser than magnitude pruning
    by its place in `methods`; `trajectories_for` also get trajectory rows of their own."""
    runs = tables.runs.copy()
    rng = np.random.default_rng(1)
    for position, method in enumerate(methods):
        shift = 0.0 if position == 0 else 0.01 * position + rng.normal(0, 0.01, len(runs))
        ed = (runs["effective_density"].astype(float) + shift).clip(0.02, 1.0)
        runs[f"effective_density_{method}"] = ed
        runs[f"unpruned_weights_{method}"] = (ed * runs["total_weights"]).round()
    magnitude = tables.trajectories
    extra = [magnitude.assign(method=m, val_acc=magnitude["val_acc"] - 0.02 * (i + 1))
             for i, m in enumerate(trajectories_for)]
    trajectories = pd.concat([magnitude, *extra], ignore_index=True)
    return SimpleNamespace(runs=runs, trajectories=trajectories, histories=tables.histories)


def quickstart_tables() -> SimpleNamespace:
    """Shaped like ``experiment=quickstart``: MLP/SGD on digits, 4 widths x 3 init seeds,
    Glorot, magnitude pruning beside the quickstart's three baselines."""
    made = make_tables(widths=(0.1, 0.5, 1.0, 2.0), init_seeds=(0, 1, 2), data_seeds=(0,),
                       inits=("glorot",), model_types=(("mlp", "sgd"),), broken=False)
    baselines = ("random", "global_magnitude", "edge_popup")
    return with_methods(made, ("magnitude", *baselines), trajectories_for=baselines)


def criteria_tables(trajectories_for: tuple[str, ...] = ("snip",)) -> SimpleNamespace:
    """Shaped like ``experiment=criteria``: the quickstart's runs pruned by every registered
    method (`propensity.pruning.registry.METHOD_NAMES`)."""
    from propensity.pruning.registry import METHOD_NAMES

    made = make_tables(widths=(0.1, 0.5, 1.0, 2.0), init_seeds=(0, 1, 2), data_seeds=(0,),
                       inits=("glorot",), model_types=(("mlp", "sgd"),), broken=False)
    return with_methods(made, METHOD_NAMES, trajectories_for=trajectories_for)
