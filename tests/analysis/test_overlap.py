"""Section 5.1: overlap of the lowest-|w| weights at init and after training."""

import pandas as pd
import pytest
import torch

from propensity.analysis.overlap import (
    chance_overlap,
    format_markdown,
    layer_overlap,
    lowest_fraction_mask,
    overlap_by_layer,
    overlap_frame,
    overlap_table,
)
from propensity.mechanisms.artifacts import WEIGHTS_FINAL, WEIGHTS_INIT, artifact_path, save_weights


def _lowest_set(w: torch.Tensor, fraction: float) -> set[int]:
    """The direct definition: indices of the round(fraction * n) smallest |w| (distinct values)."""
    values = w.abs().flatten().tolist()
    k = round(fraction * len(values))
    return set(sorted(range(len(values)), key=lambda i: values[i])[:k])


def test_overlap_equals_direct_set_computation():
    initial = torch.tensor([[0.1, -0.9, 0.3, 0.05, -0.7], [0.2, 0.6, -0.15, 0.8, 0.4]])
    final = torch.tensor([[-0.5, 0.02, 0.35, 0.9, 0.1], [0.03, -0.25, 0.7, 0.6, -0.45]])
    for fraction in (0.2, 0.4, 0.5, 0.7):
        both = _lowest_set(initial, fraction) & _lowest_set(final, fraction)
        assert layer_overlap(initial, final, fraction) == pytest.approx(len(both) / 10)
    # by hand for 40%: init lowest {3, 0, 7, 5}, final lowest {1, 5, 4, 6}
    assert layer_overlap(initial, final) == pytest.approx(1 / 10)
    assert lowest_fraction_mask(initial).sum() == 4


def test_overlap_of_independent_tensors_is_chance():
    """Two independent draws: the overlap is hypergeometric with mean k^2/n = 16% of n and
    standard deviation about sqrt(n * 0.4^2 * 0.6^2) / n = 0.24 / sqrt(n) = 0.24 points at
    n = 10^6, so +-1 point is over four standard deviations."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1000, 1000, generator=g), torch.randn(1000, 1000, generator=g)
    assert layer_overlap(a, b) == pytest.approx(chance_overlap(0.4), abs=0.01)
    assert layer_overlap(a, a) == pytest.approx(0.4)  # identical weights: the whole 40%
    assert layer_overlap(a, 1 / a) == 0.0  # reversed ranking: disjoint


def test_overlap_by_layer_checks_keys():
    a = {"fc1.weight": torch.randn(4, 5), "proj.weight": torch.randn(2, 4)}
    assert list(overlap_by_layer(a, a)) == ["fc1", "proj"]
    with pytest.raises(ValueError, match="layers differ"):
        overlap_by_layer(a, {"fc1.weight": a["fc1.weight"]})


def test_table_from_run_artifacts(tmp_path):
    g = torch.Generator().manual_seed(1)
    rows = []
    for width in (0.5, 1.0):
        for seed in (0, 1):
            run_dir = tmp_path / f"w{width}_s{seed}"
            init = {"fc1.weight": torch.randn(20, 10, generator=g),
                    "proj.weight": torch.randn(5, 20, generator=g)}
            final = {k: v + 0.1 * torch.randn(v.shape, generator=g) for k, v in init.items()}
            save_weights(artifact_path(run_dir, WEIGHTS_INIT), init)
            save_weights(artifact_path(run_dir, WEIGHTS_FINAL), final)
            rows.append(dict(run_key=f"{width}-{seed}", run_dir=str(run_dir), model="mlp",
                             optim="sgd", init="glorot", width=width, init_seed=seed))
    rows.append({**rows[0], "run_key": "missing", "run_dir": str(tmp_path / "none")})
    frame = overlap_frame(pd.DataFrame(rows))
    assert len(frame) == 8  # 4 runs x 2 layers; the run without artifacts skipped
    table = overlap_table(frame)
    assert list(table.columns) == ["fc1", "proj", "runs"]
    assert list(table.index) == [0.5, 1.0, "chance"]
    expected = 100 * frame[(frame.width == 1.0) & (frame.layer == "fc1")].overlap.mean()
    assert table.loc[1.0, "fc1"] == pytest.approx(expected)
    assert table.loc[1.0, "runs"] == 2
    assert table.loc["chance", "proj"] == pytest.approx(16.0)
    assert table.loc[0.5, "fc1"] > 30  # small perturbation: most of the lowest 40% stay low
    assert "| chance | 16.0 | 16.0 |" in format_markdown(table)
    with pytest.raises(ValueError, match="one regime"):
        overlap_table(frame.assign(optim=["sgd", "adam"] * 4))
