"""Functional similarity of models of different widths (section 5.2).

Hypothesis 2 of section 5: wider models might converge on qualitatively different functions
that need more parameters. As in the paper, a model's function is approximated by its
validation *correctness vector* (1 where an image is classified correctly). Figures 7 and 8
are t-SNE plots of these vectors; we add the agreement matrix and the mean pairwise Hamming
distance within and across widths, with a permutation test, so "wide models cluster" is a
number with a p-value rather than a reading of a picture.

All models compared must share one validation set (one ``data_seed``, as in the paper).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure
from sklearn.manifold import TSNE


def _matrix(correct: np.ndarray) -> np.ndarray:
    c = np.asarray(correct, dtype=bool)
    if c.ndim != 2:
        raise ValueError(f"correctness must be (models x images), got shape {c.shape}")
    return c


def hamming_matrix(correct: np.ndarray) -> np.ndarray:
    """(models x models) number of validation images on which two models' correctness differs.

    The co-occurrence counts are a float64 matrix product (BLAS), exact while they stay below
    2^53, far above any validation set's size."""
    c = _matrix(correct).astype(np.float64)
    ones = c.sum(axis=1)
    both = np.rint(c @ c.T).astype(np.int64)
    ones = np.rint(ones).astype(np.int64)
    return ones[:, None] + ones[None, :] - 2 * both


def agreement_matrix(correct: np.ndarray) -> np.ndarray:
    """(models x models) fraction of validation images with equal correctness (diagonal 1)."""
    c = _matrix(correct)
    return 1.0 - hamming_matrix(c) / c.shape[1]


def _group_sums(correct: np.ndarray, onehot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per labelling and group: the summed correct counts S_g (B x g) and the summed
    correctness vectors C_g (B x g x images) of the group's models, as float64 products of
    0/1 entries: exact integers far below 2^53."""
    batch, n, groups = onehot.shape
    ones = correct.sum(axis=1)
    totals = np.einsum("bng,n->bg", onehot, ones)
    vectors = (onehot.transpose(0, 2, 1).reshape(batch * groups, n) @ correct)
    return totals, vectors.reshape(batch, groups, -1)


def width_distance_table(correct: np.ndarray, widths: Sequence[float]) -> pd.DataFrame:
    """(width x width) mean pairwise Hamming distance; the diagonal excludes self-pairs.

    From group sums, never the models x models matrix: with o_i the images model i gets
    right and c_i its correctness vector, d_ij = o_i + o_j - 2 c_i.c_j, so the distances
    between groups a and b sum to n_b S_a + n_a S_b - 2 C_a.C_b (S: summed o, C: summed c;
    the self-pairs of a group add nothing). Integer sums, exact in float64: the means are
    the pair-by-pair means bit for bit."""
    c = _matrix(correct).astype(np.float64)
    widths = np.asarray(widths)
    levels = np.unique(widths)
    onehot = (widths[None, :, None] == levels[None, None, :]).astype(np.float64)
    totals, vectors = (x[0] for x in _group_sums(c, onehot))
    sizes = onehot[0].sum(axis=0)
    table = pd.DataFrame(index=pd.Index(levels, name="width"), columns=levels, dtype=float)
    for i, a in enumerate(levels):
        for j, b in enumerate(levels):
            total = sizes[j] * totals[i] + sizes[i] * totals[j] - 2 * vectors[i] @ vectors[j]
            pairs = sizes[i] * (sizes[i] - 1) if i == j else sizes[i] * sizes[j]
            table.loc[a, b] = total / pairs if pairs else np.nan
    return table


# Relabellings scored in one matrix product.
BATCH = 64


def _pair_means(correct: np.ndarray, labellings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of `labellings` (a width per model), the mean Hamming distance over
    distinct pairs of equal width and over pairs of different width (NaN where none).

    The distinct pairs within a group sum to n_g S_g - |C_g|^2 (see `width_distance_table`),
    all pairs to n S - |C|^2; across is the difference. The cost is models x images per
    labelling, not models^2, and every sum is an exact integer in float64, so the means
    equal the pair-by-pair means bit for bit. A relabelling keeps both pair counts."""
    n = correct.shape[0]
    if n < 2:
        return np.full(len(labellings), np.nan), np.full(len(labellings), np.nan)
    levels, counts = np.unique(labellings[0], return_counts=True)
    n_same = float(np.sum(counts * (counts - 1) // 2))
    n_across = n * (n - 1) / 2 - n_same
    onehot = (labellings[:, :, None] == levels[None, None, :]).astype(np.float64)  # B x n x g
    totals, vectors = _group_sums(correct, onehot)
    same = (onehot.sum(axis=1) * totals - np.einsum("bgm,bgm->bg", vectors, vectors)).sum(axis=1)
    column = correct.sum(axis=0)
    everything = n * correct.sum() - column @ column
    with np.errstate(divide="ignore", invalid="ignore"):
        within = np.where(n_same > 0, same / n_same, np.nan)
        across = np.where(n_across > 0, (everything - same) / n_across, np.nan)
    return within, across


def within_across(
    correct: np.ndarray, widths: Sequence[float], permutations: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Mean pairwise Hamming distance within and across widths, and a permutation test.

    If models of different widths implement different functions, pairs of different width
    are further apart than pairs of equal width: ``difference = across - within > 0``.
    ``p_value`` is the share of `permutations` random relabellings of the widths (seeded)
    whose difference is at least the observed one (with the +1 correction), a one-sided test
    of "width does not matter" that respects the pairwise dependence of the distances.
    The relabellings are scored `BATCH` at a time from group sums (`_pair_means`).
    """
    c = _matrix(correct).astype(np.float64)
    widths = np.asarray(widths)
    if len(widths) != len(c):
        raise ValueError(f"{len(widths)} widths for {len(c)} correctness vectors")
    within, across = (float(v[0]) for v in _pair_means(c, widths[None, :]))
    observed = across - within
    rng = np.random.default_rng(seed)
    exceed = 0
    for start in range(0, permutations, BATCH):
        size = min(BATCH, permutations - start)
        labellings = np.stack([rng.permutation(widths) for _ in range(size)])
        w, a = _pair_means(c, labellings)
        exceed += int(np.sum(a - w >= observed - 1e-12))
    return {
        "within": within,
        "across": across,
        "difference": observed,
        "p_value": (exceed + 1) / (permutations + 1) if permutations else np.nan,
        "models": float(len(widths)),
        "images": float(np.asarray(correct).shape[1]),
    }


def tsne_embedding(
    correct: np.ndarray, perplexity: float = 30.0, random_state: int = 0
) -> np.ndarray:
    """(models x 2) t-SNE of the correctness vectors under the Hamming metric (Figures 7, 8).

    Distances are precomputed (normalised Hamming), initialisation is random with a fixed
    `random_state`, so the plot is reproducible. Perplexity must stay below the number of
    models; it is clipped to (models - 1) / 3 (at least 1), the usual rule of thumb, for
    the few dozen models of a figure.
    """
    c = _matrix(correct)
    if len(c) < 3:
        raise ValueError(f"t-SNE needs at least 3 models, got {len(c)}")
    perplexity = float(min(perplexity, max(1.0, (len(c) - 1) / 3)))
    distance = hamming_matrix(c) / c.shape[1]
    tsne = TSNE(
        n_components=2,
        metric="precomputed",
        init="random",
        perplexity=perplexity,
        random_state=random_state,
    )
    return tsne.fit_transform(distance.astype(np.float64))


# Models a t-SNE panel embeds at most: a picture of thousands of dots is no more readable,
# and t-SNE's cost would grow faster than the grid; the statistics use every model.
TSNE_MODELS = 500


def tsne_subset(widths: Sequence[float], limit: int = TSNE_MODELS) -> np.ndarray:
    """Indices (ascending) of at most `limit` models for a t-SNE panel: all of them when
    they fit, else the first ``limit // widths`` of each width in their given order, so
    every width keeps the same share of the picture and the choice is reproducible."""
    widths = np.asarray(widths, dtype=float)
    if len(widths) <= limit:
        return np.arange(len(widths))
    levels = np.unique(widths)
    per_width = max(1, limit // len(levels))
    return np.sort(np.concatenate([np.flatnonzero(widths == w)[:per_width] for w in levels]))


def load_correctness_matrix(runs: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Stack the runs' ``correctness.npz`` into (models x images); also the runs used.

    Runs without the artifact are skipped. Refuses runs with different data seeds or
    vector lengths: their validation sets differ, so their correctness is not comparable.
    """
    from propensity.mechanisms.artifacts import CORRECTNESS, artifact_path, load_correctness

    vectors, used = [], []
    for position, run_dir in enumerate(runs["run_dir"]):
        path = artifact_path(Path(run_dir), CORRECTNESS)
        if path.exists():
            vectors.append(load_correctness(path)[0])
            used.append(position)
    chosen = runs.iloc[used].reset_index(drop=True)
    if "data_seed" in chosen.columns and chosen["data_seed"].nunique() > 1:
        raise ValueError(
            f"runs span data seeds {sorted(chosen['data_seed'].unique())}; their validation "
            "sets differ. Select one, e.g. runs[runs.data_seed == 0]"
        )
    if len({len(v) for v in vectors}) > 1:
        raise ValueError("correctness vectors differ in length: not the same validation set")
    if not vectors:
        return np.zeros((0, 0), dtype=bool), chosen
    return np.stack(vectors), chosen


def plot_tsne(embedding: np.ndarray, widths: Sequence[float], title: str = "", ax=None) -> Figure:
    """Figures 7 and 8: one dot per model, coloured by width (darker = wider), one legend entry
    per width. Uses ``matplotlib.figure.Figure`` directly, so no backend is chosen here.
    """
    if ax is None:
        fig = Figure(figsize=(5, 4.5), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    widths = np.asarray(widths, dtype=float)
    levels = np.unique(widths)
    shades = np.linspace(0.3, 1.0, len(levels)) if len(levels) > 1 else np.array([0.8])
    cmap = colormaps["Blues"]
    for level, shade in zip(levels, shades, strict=True):
        points = embedding[widths == level]
        ax.scatter(
            points[:, 0],
            points[:, 1],
            color=cmap(shade),
            edgecolor="black",
            linewidth=0.4,
            s=40,
            label=f"{level:g}x",
        )
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.legend(title="width", frameon=False)
    if title:
        ax.set_title(title)
    return fig
