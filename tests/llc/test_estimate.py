"""The LLC estimator against a known answer, and its validity checks (beyond the paper)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from propensity.llc import check_chains, estimate_llc

pytest.importorskip("devinterp")
# Thousands of steps of tiny tensors: two intra-op threads on a loaded 2-core machine spin on
# each of them (a 10,000 x 4 regression's backward took 57 ms instead of 1 ms).
pytestmark = pytest.mark.usefixtures("one_thread")


def gaussian_nll(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample negative log-likelihood of y ~ N(w.x, 1), up to a constant."""
    return 0.5 * ((output - target) ** 2).mean()


def least_squares(n: int, d: int, seed: int = 0) -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor]:
    """A linear regression with d parameters at its exact minimum w* (a regular model)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen)
    y = x @ torch.randn(d, 1, generator=gen) + torch.randn(n, 1, generator=gen)
    model = torch.nn.Linear(d, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, y).solution.T)
    return model, x, y


@pytest.mark.parametrize("d", [4, 10])
def test_regular_model_has_half_its_dimension(d: int) -> None:
    """Linear regression is regular: lambda = d/2. The estimate lands within 10% of it.

    n = 10,000 samples, nbeta = n / log n (Watanabe's WBIC temperature), full-batch gradients
    (so minibatch noise does not add to the injected noise), localization 1 (it shrinks the
    estimate by about nbeta / (nbeta + gamma), 0.1% here), step 1e-4 (the chain's variance
    is inflated by about 1 + lr * nbeta / 4, 3%), 200 burn-in steps (about ten relaxation
    times) and 4 chains of 1,000 draws (standard error about 2.5% of d/2).
    """
    n = 10_000
    model, x, y = least_squares(n, d)
    estimate = estimate_llc(
        model, x, y, loss=gaussian_nll, lr=1e-4, localization=1.0, nbeta=n / math.log(n),
        num_chains=4, num_draws=1000, num_burnin_steps=200, batch_size=n, seed=0,
    )
    assert estimate.valid, estimate.reason
    assert estimate.mean == pytest.approx(d / 2, rel=0.10)
    assert np.isfinite(estimate.std) and estimate.std > 0
    assert estimate.traces.shape == (4, 1000)


def test_estimate_leaves_the_model_untouched() -> None:
    model, x, y = least_squares(500, 3)
    before = model.weight.detach().clone()
    estimate_llc(model, x, y, loss=gaussian_nll, num_chains=2, num_draws=5, batch_size=100)
    assert torch.equal(model.weight, before)


def test_diverging_chain_makes_the_estimate_invalid() -> None:
    """A step size far too large: the loss explodes to inf, then NaN."""
    model, x, y = least_squares(1000, 5)
    estimate = estimate_llc(model, x, y, loss=gaussian_nll, lr=10.0, localization=0.0, nbeta=100.0,
                            num_chains=2, num_draws=50, batch_size=1000)
    assert not estimate.valid
    assert "diverged" in estimate.reason
    frame = estimate.traces_frame()
    assert len(frame) == 2 * 50 and set(frame.columns) == {"chain", "draw", "loss", "init_loss"}


def test_chain_that_leaves_the_minimum_makes_the_estimate_invalid() -> None:
    """Weights far from the minimum and no localization: the sampler descends below them."""
    model, x, y = least_squares(2000, 5)
    with torch.no_grad():
        model.weight.add_(1.0)
    estimate = estimate_llc(model, x, y, loss=gaussian_nll, lr=1e-3, localization=0.0, nbeta=300.0,
                            num_chains=2, num_draws=200, batch_size=2000)
    assert not estimate.valid
    assert "left the local minimum" in estimate.reason
    assert estimate.mean < 0  # what an average over such chains would report


def test_check_chains_accepts_a_healthy_trace() -> None:
    rng = np.random.default_rng(0)
    rise = 1.0 + 0.05 * (1 - np.exp(-np.arange(100) / 10))
    traces = rise + 0.01 * rng.standard_normal((3, 100))
    assert check_chains(traces, init_loss=1.0) == (True, "")


@pytest.mark.parametrize(("value", "word"), [(np.nan, "NaN"), (np.inf, "infinite")])
def test_check_chains_rejects_nan_and_inf(value: float, word: str) -> None:
    traces = np.full((2, 10), 1.1)
    traces[1, 7] = value
    valid, reason = check_chains(traces, init_loss=1.0)
    assert not valid
    assert reason == f"chain 1 diverged: {word} loss at draw 7"


def test_check_chains_rejects_a_tail_clearly_below_the_trained_loss() -> None:
    rng = np.random.default_rng(0)
    traces = 1.05 + 0.01 * rng.standard_normal((2, 100))
    traces[0, 50:] -= 0.2  # chain 0 finds lower ground half-way
    valid, reason = check_chains(traces, init_loss=1.0)
    assert not valid and reason.startswith("chain 0 left the local minimum")


def test_check_chains_tolerates_noise_around_the_trained_loss() -> None:
    """A tail whose mean is below L(w*) by less than 3 standard errors is not 'clearly' below."""
    traces = np.tile(np.array([0.9, 1.1]), (1, 50)).astype(float)  # mean 1.0, se ~0.014
    traces -= 0.02  # 1.4 standard errors below
    assert check_chains(traces, init_loss=1.0)[0]
