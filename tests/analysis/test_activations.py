"""Section 5.3: Hoyer sparsity and class selectivity on hand-made activations."""

import numpy as np
import pandas as pd
import pytest

from propensity.analysis.activations import (
    activation_table,
    class_means,
    class_selectivity,
    class_selectivity_normalized,
    hoyer_sparsity,
    layer_summary,
    summarize_activations,
)
from propensity.artifacts import ACTIVATIONS, artifact_path, save_activation_statistics


def test_hoyer_one_hot_uniform_dead_and_between():
    n = 50
    one_hot = np.zeros((n, 1))
    one_hot[7] = 3.0
    uniform = np.full((n, 1), 0.4)
    dead = np.zeros((n, 1))
    half = np.r_[np.ones(n // 2), np.zeros(n // 2)][:, None]
    h = hoyer_sparsity(np.hstack([one_hot, uniform, dead, half]))
    assert h[0] == pytest.approx(1.0)
    assert h[1] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(h[2])  # dead unit: undefined by convention
    # half on: L1/L2 = sqrt(n/2), so (sqrt(n) - sqrt(n/2)) / (sqrt(n) - 1)
    assert h[3] == pytest.approx((np.sqrt(n) - np.sqrt(n / 2)) / (np.sqrt(n) - 1))


def test_selectivity_on_hand_made_class_means():
    means = np.array([
        [4.0, 1.0, 1.0, 1.0],  # mu_max 4, mu_rest 1
        [2.0, 2.0, 2.0, 2.0],  # unselective
        [0.0, 0.0, 5.0, 0.0],  # one class only
        [0.0, 0.0, 0.0, 0.0],  # dead
    ])
    np.testing.assert_allclose(class_selectivity(means), [3.0, 0.0, 5.0, 0.0])
    norm = class_selectivity_normalized(means)
    np.testing.assert_allclose(norm[:3], [3 / 5, 0.0, 1.0])
    assert np.isnan(norm[3])


def test_class_means_from_activations():
    activations = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 6.0], [2.0, 2.0]])
    labels = np.array([0, 0, 1, 2])
    means = class_means(activations, labels, num_classes=4)
    np.testing.assert_allclose(means[:, :3], [[2.0, 0.0, 2.0], [0.0, 6.0, 2.0]])
    assert np.isnan(means[:, 3]).all()  # class 3 absent: ignored by the selectivities
    np.testing.assert_allclose(class_selectivity(means), [2.0 - 1.0, 6.0 - 1.0])


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
