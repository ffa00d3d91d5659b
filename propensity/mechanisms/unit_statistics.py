"""Hoyer sparsity and class selectivity of a hidden unit: the definitions of section 5.3.

A *unit* is a neuron of a dense layer or a channel of a convolutional layer; its activation
on one validation image is its post-ReLU output, averaged over spatial positions for a
channel. Dead units (zero on every validation image) have neither a Hoyer sparsity nor a
normalised selectivity (0/0): they are NaN by convention, so a layer with many dead units is
visible rather than silently scored as "sparse" or "dense".

Pure NumPy and below both the artifact writer (`propensity.mechanisms.artifacts`, which computes them at
the end of training) and the analysis (`propensity.analysis.activations`, which summarises
them over runs), so neither depends on the other for a definition.
"""

from __future__ import annotations

import numpy as np


def hoyer_from_norms(l1: np.ndarray, l2: np.ndarray, n: int) -> np.ndarray:
    """Hoyer (2004) sparsity (sqrt(n) - L1/L2) / (sqrt(n) - 1) from a vector's norms.

    `n` is the vector's length: here the number of validation images, each unit's
    activations over the validation set being one vector. 1 for a one-hot vector, 0 for a
    constant one, NaN for an all-zero one (see the module docstring). Taking norms lets the
    artifact code stream over batches instead of holding every activation.
    """
    if n < 2:
        raise ValueError(f"Hoyer sparsity needs vectors of length >= 2, got n={n}")
    l1 = np.asarray(l1, dtype=np.float64)
    l2 = np.asarray(l2, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(l2 > 0, l1 / l2, np.nan)
    root = np.sqrt(n)
    # Clip the rounding error of L1/L2 just outside [1, sqrt(n)].
    return np.clip((root - ratio) / (root - 1.0), 0.0, 1.0)


def hoyer_sparsity(activations: np.ndarray) -> np.ndarray:
    """Per-unit Hoyer sparsity of an (images x units) activation matrix (section 5.3)."""
    a = np.asarray(activations, dtype=np.float64)
    return hoyer_from_norms(np.abs(a).sum(axis=0), np.sqrt((a**2).sum(axis=0)), a.shape[0])


def class_means(activations: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(units x classes) mean activation of each unit over the images of each class.

    A class absent from `labels` has NaN means and is ignored by the selectivities.
    """
    a = np.asarray(activations, dtype=np.float64)
    labels = np.asarray(labels)
    sums = np.zeros((a.shape[1], num_classes))
    np.add.at(sums.T, labels, a)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums / np.where(counts > 0, counts, np.nan)


def _max_and_rest(means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mu_max, the largest class mean, and mu_rest, the mean of the other classes' means."""
    means = np.asarray(means, dtype=np.float64)
    present = ~np.isnan(means)
    filled = np.where(present, means, -np.inf)
    top = filled.argmax(axis=1)
    mu_max = np.take_along_axis(filled, top[:, None], axis=1)[:, 0]
    others = present.copy()
    others[np.arange(len(means)), top] = False
    with np.errstate(divide="ignore", invalid="ignore"):
        mu_rest = np.where(others, means, 0.0).sum(axis=1) / others.sum(axis=1)
    return mu_max, mu_rest


def class_selectivity(means: np.ndarray) -> np.ndarray:
    """Per-unit selectivity as section 5.3 states it: mu_max - mu_rest.

    `means` is (units x classes); mu_rest averages the class means of all other classes.
    Unnormalised, it scales with the activation's magnitude; 0 for a dead unit.
    """
    mu_max, mu_rest = _max_and_rest(means)
    return mu_max - mu_rest


def class_selectivity_normalized(means: np.ndarray) -> np.ndarray:
    """Morcos et al.'s (2018) selectivity (mu_max - mu_rest) / (mu_max + mu_rest).

    In [0, 1] for ReLU units: 0 when every class has the same mean, 1 when one class alone
    activates the unit. NaN when mu_max + mu_rest == 0 (a dead unit; see module docstring).
    """
    mu_max, mu_rest = _max_and_rest(means)
    total = mu_max + mu_rest
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total != 0, (mu_max - mu_rest) / total, np.nan)
