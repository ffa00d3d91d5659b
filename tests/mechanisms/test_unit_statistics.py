"""Section 5.3's definitions on hand-made activations: Hoyer sparsity and class selectivity."""

import numpy as np
import pytest

from propensity.mechanisms.unit_statistics import (
    class_means,
    class_selectivity,
    class_selectivity_normalized,
    hoyer_sparsity,
)


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
