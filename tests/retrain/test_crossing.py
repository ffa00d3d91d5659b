"""The fine-tuning crossing search on synthetic accuracy curves."""

from __future__ import annotations

import pytest

from propensity.pruning.effective_density import degradation
from propensity.pruning.trajectory import Trajectory
from propensity.retrain.crossing import find_crossing, max_fine_tunes

TOTAL = 1000
GRID = [TOTAL - 20 * k for k in range(51)]  # the paper's 2% grid: 50 levels
BASE = 0.90


class Curve:
    """Fine-tuned accuracy per level; counts the fine-tunes asked of it."""

    def __init__(self, accuracy: dict[int, float] | None = None, default: float = BASE) -> None:
        self.accuracy, self.default, self.calls = accuracy or {}, default, []

    def __call__(self, level: int) -> float:
        assert 1 <= level <= 50, "level 0 is the dense model: never fine-tuned"
        self.calls.append(level)
        return self.accuracy.get(level, self.default)


def step_curve(first_failing: int) -> Curve:
    return Curve({k: BASE - 0.01 * k if k < first_failing else 0.3 - 0.001 * k for k in range(1, 51)})


def exhaustive(curve: Curve):
    levels = list(range(51))
    return degradation(Trajectory(levels, [GRID[k] / TOTAL for k in levels], GRID,
                                  [BASE] + [curve.accuracy.get(k, curve.default) for k in levels[1:]],
                                  [0.0] * 51))


@pytest.mark.parametrize("first_failing", range(1, 51))
def test_monotone_curves_agree_with_fine_tuning_every_level_in_at_most_nine(first_failing: int) -> None:
    curve = step_curve(first_failing)
    crossing = find_crossing(curve, BASE, GRID)
    truth = exhaustive(step_curve(first_failing))
    assert crossing.degradation.level == truth.level
    assert crossing.degradation.effective_density == truth.effective_density
    assert crossing.degradation.ed_last_pass == truth.ed_last_pass
    assert crossing.fine_tunes == len(set(curve.calls)) == len(curve.calls) <= max_fine_tunes(50) == 9
    assert crossing.monotone_at_bracket


def test_a_gradual_decline_crosses_where_the_drop_exceeds_the_threshold() -> None:
    curve = Curve({k: BASE - 0.004 * k for k in range(1, 51)})  # 0.05 exceeded from level 13
    crossing = find_crossing(curve, BASE, GRID, threshold=0.05)
    assert crossing.degradation.level == 13 and crossing.degradation.effective_density == 0.74
    relative = find_crossing(Curve(curve.accuracy), BASE, GRID, threshold=0.05, mode="relative")
    assert relative.degradation.level == 12  # 0.05 * 0.9 = 0.045 exceeded from level 12


def test_a_curve_that_never_degrades_costs_one_fine_tune() -> None:
    curve = Curve()
    crossing = find_crossing(curve, BASE, GRID)
    assert crossing.degradation.never_degraded and crossing.degradation.level == 50
    assert curve.calls == [50] and crossing.fine_tunes == 1


def test_a_recovery_right_after_the_crossing_is_flagged_and_the_first_crossing_kept() -> None:
    curve = Curve({k: 0.5 for k in range(30, 51)} | {31: BASE})
    crossing = find_crossing(curve, BASE, GRID)
    assert crossing.degradation.level == 30 and not crossing.monotone_at_bracket


def test_a_failure_just_below_the_bracket_moves_it_down() -> None:
    # bisection brackets (28, 29); the check below it finds 27 failing, so the bracket moves
    # to (25, 27), the highest pass below 27 it had, and bisects to (26, 27)
    curve = Curve({k: 0.5 for k in range(29, 51)} | {27: 0.5})
    crossing = find_crossing(curve, BASE, GRID)
    assert crossing.degradation.level == 27 == exhaustive(curve).level
    assert not crossing.monotone_at_bracket
    assert crossing.evaluated.level[crossing.evaluated.level.index(27) - 1] == 26
    assert sorted(curve.calls) == [25, 26, 27, 28, 29, 31, 37, 50]


def test_a_dip_far_below_the_bracket_is_not_seen_which_is_the_assumption() -> None:
    curve = Curve({k: 0.5 for k in range(30, 51)} | {3: 0.5})
    crossing = find_crossing(curve, BASE, GRID)
    assert 3 not in curve.calls
    assert crossing.degradation.level == 30 and crossing.monotone_at_bracket
    assert exhaustive(curve).level == 3
    every = find_crossing(Curve(curve.accuracy), BASE, GRID, search="every_level")
    assert every.degradation.level == 3 and every.fine_tunes == 50


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="use absolute or relative"):
        find_crossing(Curve(), BASE, GRID, mode="loss")
    with pytest.raises(ValueError, match=r"retrain\.search='halving'"):
        find_crossing(Curve(), BASE, GRID, search="halving")
    with pytest.raises(ValueError, match="at least one pruned level"):
        find_crossing(Curve(), BASE, [TOTAL])


@pytest.mark.parametrize("seed", range(20))
def test_on_noisy_curves_the_answer_is_a_crossing_whose_predecessor_passed(seed: int) -> None:
    import random

    rng = random.Random(seed)
    cliff = rng.randint(5, 50)
    curve = Curve({k: (BASE - 0.002 * k if k < cliff else 0.6) + rng.uniform(-0.06, 0.06)
                   for k in range(1, 51)})
    crossing = find_crossing(curve, BASE, GRID)
    ed, levels = crossing.degradation, crossing.evaluated.level
    assert len(curve.calls) == len(set(curve.calls)) == crossing.fine_tunes
    if ed.never_degraded:
        assert curve.calls == [50]
    else:
        assert BASE - curve.accuracy[ed.level] > 0.05
        before = levels[levels.index(ed.level) - 1]
        assert before == ed.level - 1 and (before == 0 or BASE - curve.accuracy[before] <= 0.05)
        assert ed.level >= exhaustive(curve).level  # never earlier than the true first crossing
