"""Section 5.3: the per-layer summary of activation statistics over runs."""

import numpy as np
import pandas as pd
import pytest

from propensity.analysis.activations import (
    activation_table,
    layer_summary,
    summarize_activations,
)
from propensity.mechanisms.artifacts import ACTIVATIONS, artifact_path, save_activation_statistics


def _stats(hoyer, sel):
    return {"hoyer": np.array(hoyer), "selectivity": np.array(sel),
            "selectivity_normalized": np.array(sel) / 10, "class_means": np.zeros((len(sel), 3))}


def test_summary_by_width_and_optimizer(tmp_path):
    rows = []
    for i, (optim, width, hoyer) in enumerate(
        [("sgd", 1.0, 0.2), ("sgd", 1.0, 0.4), ("adam", 2.0, 0.8)]
    ):
        run_dir = tmp_path / str(i)
        save_activation_statistics(artifact_path(run_dir, ACTIVATIONS),
                                   {"fc1": _stats([hoyer, np.nan], [1.0, 0.0])})
        rows.append(dict(run_key=str(i), run_dir=str(run_dir), model="mlp", optim=optim,
                         width=width, init_seed=i))
    layer = layer_summary({"fc1": _stats([0.2, np.nan], [1.0, 0.0])}).iloc[0]
    assert layer["dead_fraction"] == 0.5 and layer["hoyer"] == pytest.approx(0.2)
    table = activation_table(pd.DataFrame(rows))
    assert len(table) == 3
    summary = summarize_activations(table).set_index(["optim", "width"])
    assert summary.loc[("sgd", 1.0), "hoyer"] == pytest.approx(0.3, rel=1e-6)
    assert summary.loc[("sgd", 1.0), "runs"] == 2
    assert summary.loc[("adam", 2.0), "selectivity"] == pytest.approx(1.0)  # dead unit skipped


def test_activation_statistics_load_only_the_names_asked_for(tmp_path):
    import numpy as np

    from propensity.mechanisms.artifacts import load_activation_statistics, save_activation_statistics

    stats = {"fc1": {"hoyer": np.ones(3), "class_means": np.zeros((3, 10))}, "fc2": {"hoyer": np.ones(2)}}
    save_activation_statistics(tmp_path / "a.npz", stats)
    some = load_activation_statistics(tmp_path / "a.npz", ["hoyer"])
    assert list(some) == ["fc1", "fc2"] and all(list(s) == ["hoyer"] for s in some.values())
    assert set(load_activation_statistics(tmp_path / "a.npz")["fc1"]) == {"hoyer", "class_means"}
