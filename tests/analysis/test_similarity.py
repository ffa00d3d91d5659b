"""Section 5.2: agreement, Hamming distances and t-SNE of correctness vectors."""

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from propensity.analysis.similarity import (
    agreement_matrix,
    hamming_matrix,
    load_correctness_matrix,
    plot_tsne,
    tsne_embedding,
    width_distance_table,
    within_across,
)
from propensity.mechanisms.artifacts import CORRECTNESS, artifact_path, save_correctness


@pytest.fixture
def clustered() -> tuple[np.ndarray, np.ndarray]:
    """12 models on 200 images: each width's models flip 5% of their width's prototype."""
    rng = np.random.default_rng(0)
    vectors, widths = [], []
    for width in (0.5, 1.0, 2.0):
        prototype = rng.random(200) < 0.8
        for _ in range(4):
            vectors.append(prototype ^ (rng.random(200) < 0.05))
            widths.append(width)
    return np.array(vectors), np.array(widths)


def test_hamming_and_agreement_on_hand_made_vectors():
    correct = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(hamming_matrix(correct), [[0, 2, 0], [2, 0, 2], [0, 2, 0]])
    np.testing.assert_allclose(agreement_matrix(correct)[0], [1.0, 0.5, 1.0])


def test_within_and_across_width_distances(clustered):
    correct, widths = clustered
    result = within_across(correct, widths, permutations=200)
    assert result["within"] < result["across"]
    assert result["p_value"] < 0.01  # 3 clean clusters: no relabelling does as well
    table = width_distance_table(correct, widths)
    assert table.shape == (3, 3)
    values = table.to_numpy()
    off_diagonal = np.where(np.eye(3, dtype=bool), np.inf, values)
    assert np.all(np.diag(values) < off_diagonal.min(axis=1))  # each width nearest itself
    # no structure: the width labels say nothing
    shuffled = np.random.default_rng(1).random((12, 200)) < 0.8
    assert within_across(shuffled, widths, permutations=200)["p_value"] > 0.01


def test_tsne_is_reproducible_and_separates_clusters(clustered):
    correct, widths = clustered
    embedding = tsne_embedding(correct, random_state=0)
    assert embedding.shape == (12, 2)
    np.testing.assert_allclose(embedding, tsne_embedding(correct, random_state=0))
    centres = {w: embedding[widths == w].mean(axis=0) for w in np.unique(widths)}
    spread = max(np.linalg.norm(embedding[widths == w] - centres[w], axis=1).max()
                 for w in centres)
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in centres for b in centres if a < b]
    assert min(gaps) > spread
    fig = plot_tsne(embedding, widths, title="Figure 7")
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].collections) == 3  # one scatter per width


def test_load_correctness_matrix_requires_one_validation_set(tmp_path):
    rows = []
    for i in range(3):
        run_dir = tmp_path / str(i)
        correct = torch.tensor([True, False, True, bool(i % 2), True, False, True, True, False])
        save_correctness(artifact_path(run_dir, CORRECTNESS), correct, torch.arange(9))
        rows.append(dict(run_dir=str(run_dir), width=1.0, data_seed=0))
    rows.append(dict(run_dir=str(tmp_path / "none"), width=2.0, data_seed=0))
    matrix, used = load_correctness_matrix(pd.DataFrame(rows))
    assert matrix.shape == (3, 9) and len(used) == 3
    assert matrix[1, 3] and not matrix[0, 3]
    with pytest.raises(ValueError, match="data seeds"):
        load_correctness_matrix(pd.DataFrame(rows).assign(data_seed=[0, 1, 0, 0]))


def test_tsne_subset_keeps_everything_that_fits_and_else_the_same_number_per_width():
    from propensity.analysis.similarity import tsne_subset

    widths = [0.5] * 300 + [1.0] * 200 + [2.0] * 100
    assert tsne_subset(widths[:400]).tolist() == list(range(400))
    chosen = tsne_subset(widths, limit=150)
    assert chosen.tolist() == [*range(50), *range(300, 350), *range(500, 550)]
