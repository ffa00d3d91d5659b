"""The exponent's interval and verdict hold what they claim at the seed counts people run:
a simulation with a known exponent, through the same functions the report uses.

Each repeat draws k seed clusters over the quickstart's widths (0.1x to 2x of the MLP on
digits, one run per width per cluster): log core = a + b log(total) + a cluster's own
intercept and slope + run noise. The cluster slopes scatter by delta / 2 about b (random
slope 0.04, run noise 0.1 over the widths' log spread). With R = 20,000 repeats the
Monte-Carlo standard error of a coverage near 0.95 is sqrt(0.95 x 0.05 / R) = 0.0015, and
of a size near 0.05 also 0.0015: the bounds [0.93, 0.97] and 0.06 are 6 to 13 standard
errors from the nominal values, so a pass is not luck and a real shortfall of 0.02 fails.
"""

import numpy as np
import pytest

from propensity.analysis.exponent import (
    ALPHA,
    CONSTANT_DENSITY,
    DELTA,
    MIN_CLUSTERS_FOR_VERDICT,
    NULL,
    line_from_sums,
    t_interval,
    tost_p,
)
from tests.analysis.synthetic import mlp_digits_weights

REPEATS = 20_000
WIDTHS = (0.1, 0.5, 1.0, 2.0)
RUN_NOISE = 0.1
X = np.log([mlp_digits_weights(w) for w in WIDTHS])
# random slope sd so that a cluster's slope scatters by delta / 2 in all
SLOPE_SD = np.sqrt((DELTA / 2) ** 2 - RUN_NOISE**2 / np.sum((X - X.mean()) ** 2))


def cluster_slopes(b: float, k: int, seed: int) -> np.ndarray:
    """(REPEATS, k) cluster slopes of simulated runs with true exponent `b`, by the
    product's own arithmetic (per-cluster sums, then `line_from_sums`)."""
    rng = np.random.default_rng(seed)
    shape = (REPEATS, k, 1)
    y = (1.0 + rng.normal(0, 0.3, shape) + (b + rng.normal(0, SLOPE_SD, shape)) * X
         + rng.normal(0, RUN_NOISE, (REPEATS, k, len(X))))
    x = np.broadcast_to(X, y.shape)
    sums = np.stack([np.ones_like(y), x, y, x * x, x * y], axis=-1).sum(axis=-2)
    return line_from_sums(sums)[0]


def coverage_and_size(k: int, seed: int) -> tuple[float, float, float]:
    """(coverage of the 95% interval at b = 0.9, the larger TOST false-equivalence rate at
    the two margins of b = 1, the same at the two margins of b = 0)."""
    _, low, high, _ = t_interval(cluster_slopes(0.9, k, seed))
    coverage = float(np.mean((low <= 0.9) & (high >= 0.9)))
    sizes = {}
    for target in (CONSTANT_DENSITY, NULL):
        at_margins = []
        for edge in (target - DELTA, target + DELTA):
            b, _, _, se = t_interval(cluster_slopes(edge, k, seed + 1))
            at_margins.append(np.mean(tost_p(b, se, k - 1, target, DELTA) < ALPHA))
        sizes[target] = float(max(at_margins))
    return coverage, sizes[CONSTANT_DENSITY], sizes[NULL]


@pytest.mark.parametrize("k", [3, 5, 10])
def test_interval_covers_and_tost_holds_its_size(k):
    coverage, size_density, size_null = coverage_and_size(k, seed=k)
    assert 0.93 <= coverage <= 0.97, coverage
    assert size_density <= 0.06 and size_null <= 0.06, (size_density, size_null)


def power(k: int) -> float:
    """How often the TOST shows b = 1 when b is exactly 1."""
    b, _, _, se = t_interval(cluster_slopes(1.0, k, seed=100 + k))
    return float(np.mean(tost_p(b, se, k - 1, CONSTANT_DENSITY, DELTA) < ALPHA))


def test_a_verdict_needs_the_clusters_that_give_it_power():
    # the verdict's threshold: the fewest clusters with power >= 0.9 at this scatter
    assert power(MIN_CLUSTERS_FOR_VERDICT) >= 0.9
    assert power(MIN_CLUSTERS_FOR_VERDICT - 1) < 0.9
    assert power(3) < 0.7  # three clusters: mostly 'undecided' even when b is on 1
