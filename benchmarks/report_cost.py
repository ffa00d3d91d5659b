"""What `collect` and `report` cost as a results directory grows, with section-5 artifacts.

    python benchmarks/report_cost.py [--runs 500 2000 8000] [--keep DIR]

Builds N synthetic run folders in the format a quickstart run writes (MLP on digits at
widths 0.1, 0.5, 1 and 2, one init seed per four runs, one data seed): ``record.json`` with
every pruning method's ED, ``trajectory.csv`` with magnitude, random and global magnitude
(51 levels each) and edge-popup (8 densities, with its magnitude starting accuracies),
``history.csv`` (20 epochs) and the section-5 artifacts (initial and final weights,
correctness vector, activation statistics). Every ED is computed from its trajectory by
`propensity.pruning.effective_density.degradation`, as a real run records it. Weight and
activation files come from a pool of three per width and are hard-linked, so 8,000 runs
take little disk; correctness vectors are written per run (t-SNE slows down badly on exact
duplicates).

Then, per N, it times ``python -m propensity.collect`` and ``python -m propensity.report``
as a user types them (fresh processes, imports included), collect before and after the
report so load from other processes meets both; the baseline is the faster collect. It
prints seconds, seconds per run, the peak resident memory of each command, the ratio
report / collect (the target: at most 2 at N = 2,000) and the growth of the report's time
per run from each N to the next (linear: at most about 1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from propensity.mechanisms.artifacts import (
    ACTIVATIONS,
    CORRECTNESS,
    WEIGHTS_FINAL,
    WEIGHTS_INIT,
    artifact_path,
    save_activation_statistics,
    save_correctness,
    save_weights,
)
from propensity.pruning.effective_density import degradation
from propensity.pruning.trajectory import Trajectory
from propensity.storage.records import RunRecord

WIDTHS = (0.1, 0.5, 1.0, 2.0)
THRESHOLDS = (0.01, 0.02, 0.05, 0.1)
THRESHOLD = 0.05
FINE = ("magnitude", "random", "global_magnitude")
EDGE_POPUP_DENSITIES = (0.9, 0.7, 0.5, 0.3, 0.2, 0.1, 0.05)
# sigmoid midpoints of the accuracy drop: where each method's accuracy falls
DROP_AT = {"magnitude": 0.45, "random": 0.85, "global_magnitude": 0.3, "edge_popup": 0.25}
IMAGES = 300
EPOCHS = 20
POOL = 3
REPO = Path(__file__).resolve().parents[1]


def layer_shapes(width: float) -> dict[str, tuple[int, int]]:
    """The MLP's prunable weights on 8x8 digits (as `propensity.models.MLP` builds them)."""
    h1, h2 = int(300 * width), int(100 * width)
    return {"fc1.weight": (h1, 64), "fc2.weight": (h2, h1), "proj.weight": (10, h2)}


def accuracy(density: np.ndarray, drop_at: float, rng: np.random.Generator) -> np.ndarray:
    return 0.93 - 0.8 / (1 + np.exp((density - drop_at) / 0.04)) + rng.normal(0, 0.003, len(density))


def trajectories(total: int, shift: float, rng: np.random.Generator) -> pd.DataFrame:
    """The four methods' trajectories of one run, in trajectory.csv's columns."""
    frames = []
    fine = np.round(1 - 0.02 * np.arange(51), 2)
    for method in FINE:
        acc = accuracy(fine, DROP_AT[method] + shift, rng)
        acc[0] = acc[0] if method == "magnitude" else frames[0]["val_acc"].iloc[0]
        frames.append(pd.DataFrame({"method": method, "level": np.arange(51), "density": fine,
                                    "remaining_weights": np.round(fine * total), "val_acc": acc,
                                    "val_loss": 2.3 - 2 * acc}))
    magnitude = frames[0].set_index("density")["val_acc"]
    coarse = np.array([1.0, *EDGE_POPUP_DENSITIES])
    acc = accuracy(coarse, DROP_AT["edge_popup"] + shift, rng)
    acc[0] = magnitude.iloc[0]
    # edge-popup's starting masks are magnitude's (exact where magnitude has the density)
    start = [float(magnitude.get(d, 0.5)) for d in coarse]
    frames.append(pd.DataFrame({"method": "edge_popup", "level": np.arange(len(coarse)),
                                "density": coarse, "remaining_weights": np.round(coarse * total),
                                "val_acc": acc, "val_loss": 2.3 - 2 * acc,
                                "target_density": coarse, "start_val_acc": start,
                                "best_step": 100}))
    return pd.concat(frames, ignore_index=True)


def method_record(levels: pd.DataFrame, total: int) -> dict[str, object]:
    """A method's entry of ``ed_by_method``: its ED per threshold from its trajectory."""
    trajectory = Trajectory(level=levels["level"].tolist(), density=levels["density"].tolist(),
                            remaining_weights=levels["remaining_weights"].astype(int).tolist(),
                            val_acc=levels["val_acc"].tolist(), val_loss=levels["val_loss"].tolist())
    by_threshold = {f"{t:g}": degradation(trajectory, t, "absolute").effective_density
                    for t in THRESHOLDS}
    ed = by_threshold[f"{THRESHOLD:g}"]
    return {"effective_density": ed, "ed_last_pass": ed, "unpruned_weights": round(ed * total),
            "total_weights": total, "threshold": THRESHOLD, "threshold_mode": "absolute",
            "base_val_acc": float(levels["val_acc"].iloc[0]), "never_degraded": False,
            "ed_by_threshold": by_threshold}


def pool(root: Path) -> dict[float, list[Path]]:
    """`POOL` artifact folders per width: weights at init and after training, activations."""
    folders: dict[float, list[Path]] = {}
    generator = torch.Generator().manual_seed(0)
    for width in WIDTHS:
        for k in range(POOL):
            folder = root / f"w{width:g}-{k}"
            initial = {n: torch.randn(s, generator=generator) for n, s in layer_shapes(width).items()}
            final = {n: w + 0.5 * torch.randn(w.shape, generator=generator) for n, w in initial.items()}
            save_weights(artifact_path(folder, WEIGHTS_INIT), initial)
            save_weights(artifact_path(folder, WEIGHTS_FINAL), final)
            units = {"fc1": int(300 * width), "fc2": int(100 * width)}
            stats = {layer: {"hoyer": torch.rand(n, generator=generator).numpy(),
                             "selectivity": torch.rand(n, generator=generator).numpy(),
                             "selectivity_normalized": torch.rand(n, generator=generator).numpy(),
                             "class_means": torch.rand(n, 10, generator=generator).numpy()}
                     for layer, n in units.items()}
            save_activation_statistics(artifact_path(folder, ACTIVATIONS), stats)
            folders.setdefault(width, []).append(folder)
    return folders


def make_runs(root: Path, n: int) -> None:
    """`n` run folders under ``root/grid`` (see the module docstring)."""
    pools = pool(root / "pool")
    for i in range(n):
        width, init_seed = WIDTHS[i % len(WIDTHS)], i // len(WIDTHS)
        rng = np.random.default_rng(i)
        shapes = layer_shapes(width)
        total = sum(a * b for a, b in shapes.values())
        run_key = f"mlp-w{width:g}-sgd-glorot-i{init_seed}-d0"
        run_dir = root / "grid" / run_key
        run_dir.mkdir(parents=True)
        steps = trajectories(total, -0.04 * np.log2(width) + rng.normal(0, 0.03), rng)
        steps.to_csv(run_dir / "trajectory.csv", index=False)
        epoch = np.arange(1, EPOCHS + 1)
        pd.DataFrame({"epoch": epoch, "train_loss": 2 / epoch, "train_acc": 1 - 0.5 / epoch,
                      "val_loss": 2.1 / epoch, "val_acc": 1 - 0.55 / epoch}).to_csv(
            run_dir / "history.csv", index=False)
        methods = {m: method_record(steps[steps["method"] == m], total) for m in (*FINE, "edge_popup")}
        own = methods["magnitude"]
        RunRecord(
            run_key=run_key, experiment="quickstart", status="finished", model="mlp", data="digits",
            optim="sgd", lr=0.05, init="glorot", width=width, init_seed=init_seed, data_seed=0,
            stop="train_loss", batch_size=64, total_weights=total,
            weights_per_layer={k: a * b for k, (a, b) in shapes.items()}, stop_epoch=EPOCHS,
            epochs_trained=EPOCHS, stop_target_met=True, train_loss=0.19, train_acc=0.95,
            val_loss=0.3, val_acc=0.9, test_loss=0.26, test_acc=0.93, pruning_method="magnitude",
            schedule="original", threshold=THRESHOLD, threshold_mode="absolute",
            base_val_acc=own["base_val_acc"], effective_density=own["effective_density"],
            ed_last_pass=own["ed_last_pass"], unpruned_weights=own["unpruned_weights"],
            never_degraded=False, ed_by_threshold=own["ed_by_threshold"], ed_by_method=methods,
            cpu_threads=1, device="cpu", wall_time_s=2.0,
        ).save(run_dir / "record.json")
        source = pools[width][i % POOL]
        for name in (WEIGHTS_INIT, WEIGHTS_FINAL, ACTIVATIONS):
            target = artifact_path(run_dir, name)
            target.parent.mkdir(exist_ok=True)
            os.link(artifact_path(source, name), target)
        correct = torch.from_numpy(rng.random(IMAGES) < 0.85 + 0.02 * np.log2(width))
        save_correctness(artifact_path(run_dir, CORRECTNESS), correct, torch.zeros(IMAGES, dtype=torch.long))


def timed(command: list[str]) -> tuple[float, float]:
    """(seconds, peak resident MiB) of one command in a fresh process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, nargs="+", default=[500, 2000, 8000])
    parser.add_argument("--keep", type=Path, default=None, help="build the folders here and keep them")
    args = parser.parse_args()
    python = sys.executable
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    print(f"{'runs':>6} {'build s':>8} {'collect s':>10} {'report s':>9} {'report/collect':>15} "
          f"{'report ms/run':>14} {'collect MiB':>12} {'report MiB':>11}")
    per_run = {}
    for n in args.runs:
        temporary = Path(tempfile.mkdtemp(prefix=f"report_cost_{n}_")) if not args.keep else None
        root = temporary or (args.keep / f"n{n}").resolve()
        try:
            start = time.perf_counter()
            make_runs(root, n)
            built = time.perf_counter() - start
            grid = str(root / "grid")
            collect_a, collect_mib = timed([python, "-m", "propensity.collect", grid])
            report_s, report_mib = timed([python, "-m", "propensity.report", grid, "--out",
                                          str(root / "report")])
            collect_b, _ = timed([python, "-m", "propensity.collect", grid])
            collect_s = min(collect_a, collect_b)
            per_run[n] = report_s / n
            print(f"{n:>6} {built:>8.1f} {collect_s:>10.1f} {report_s:>9.1f} "
                  f"{report_s / collect_s:>15.2f} {1000 * report_s / n:>14.1f} "
                  f"{collect_mib:>12.0f} {report_mib:>11.0f}", flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    for small, large in pairwise(sorted(per_run)):
        print(f"report time per run at {large} runs / at {small} runs: "
              f"{per_run[large] / per_run[small]:.2f} (1 = linear growth, below 1: fixed costs shared)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
