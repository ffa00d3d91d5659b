"""Pruning schedules, rankings and masks (section 3.2)."""

import pytest
import torch
from torch import nn

from propensity.models import ResNet
from propensity.pruning.masks import (
    kept_count,
    kept_counts,
    last_level,
    magnitude_masks,
    plan,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def round_half_even(num: int, den: int) -> int:
    """num/den rounded half to even, in integers: an independent check of the counts."""
    q, r = divmod(num, den)
    return q + (2 * r > den or (2 * r == den and q % 2 == 1))


def expected_kept(n: int, k: int, schedule: str) -> int:
    if schedule == "original":
        return max(0, n - round_half_even(k * n, 50))
    return round_half_even(n * 49**k, 50**k)


def test_last_level_of_each_schedule():
    assert last_level() == 50
    assert last_level(0.1) == 10
    assert last_level(0.03) == 34  # 34 * 3% >= 100%
    # 0.98^227 = 0.0102 > 0.01 >= 0.98^228 = 0.00998: the trajectory reaches min_density
    assert last_level(schedule="remaining") == 228
    assert last_level(schedule="remaining", min_density=0.5) == 35  # 0.98^34 = 0.503


@pytest.mark.parametrize("schedule", ["original", "remaining"])
def test_exact_kept_counts_per_layer_at_every_level(schedule):
    sizes = {"a": 1, "b": 7, "c": 25, "d": 75, "e": 235200, "f": 1000}
    counts = kept_counts(sizes, schedule=schedule)
    assert len(counts) == last_level(schedule=schedule) + 1
    for k, row in enumerate(counts):
        assert row == {name: expected_kept(n, k, schedule) for name, n in sizes.items()}
    assert counts[0] == sizes
    if schedule == "original":
        assert counts[-1] == dict.fromkeys(sizes, 0)


def test_hand_counted_small_layer():
    # 25 weights, 2% a level: k*0.5 pruned, rounded half to even
    original = [kept_count(25, k) for k in range(6)]
    assert original == [25, 25, 24, 23, 23, 23]
    assert [kept_count(10, k, schedule="remaining") for k in range(4)] == [10, 10, 10, 9]
    assert kept_count(10, 50) == 0


def layer(*values: float) -> dict[str, torch.Tensor]:
    return {"w": torch.tensor(values)}


def test_magnitude_masks_keep_the_largest_and_are_nested():
    torch.manual_seed(0)
    weights = {"a": torch.randn(30, 20), "b": torch.randn(10, 30), "c": torch.randn(4, 3, 3, 3)}
    for schedule in ("original", "remaining"):
        p = plan(weights, schedule=schedule)
        previous = None
        for k in range(p.levels):
            masks = p.masks(k)
            for name, w in weights.items():
                mask = masks[name]
                assert mask.shape == w.shape and mask.dtype == torch.bool
                assert int(mask.sum()) == expected_kept(w.numel(), k, schedule)
                if mask.any() and (~mask).any():
                    assert w[mask].abs().min() > w[~mask].abs().max()
                if previous is not None:
                    assert not (mask & ~previous[name]).any(), "a pruned weight came back"
            previous = masks


def test_ties_are_pruned_in_index_order():
    w = {"w": torch.tensor([1.0, -1.0, 1.0, 0.5, -1.0, 1.0, 1.0, -1.0, 1.0, 1.0])}
    p = plan(w, step=0.1)
    assert p.orders[0].tolist() == [3, 0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert p.masks(3)["w"].tolist() == [False, False, True, False] + [True] * 6
    assert all(torch.equal(p.orders[0], plan(w, step=0.1).orders[0]) for _ in range(3))


def test_only_linear_and_conv_weights_are_masked():
    model = ResNet(0.25, input_shape=(3, 8, 8))
    masks = magnitude_masks(model, level=10)
    assert all(name.endswith(".weight") for name in masks)
    assert not any(".bn" in name or name.startswith("bn") for name in masks)
    n_conv_linear = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    assert len(masks) == n_conv_linear


def test_magnitude_masks_of_the_remaining_schedule():
    w = {"w": torch.arange(1.0, 101.0)}
    mask = magnitude_masks(w, level=100, schedule="remaining")["w"]
    assert int(mask.sum()) == round(100 * 0.98**100) == 13
    assert mask[-13:].all() and not mask[:-13].any()


def test_global_magnitude_prunes_the_globally_smallest():
    torch.manual_seed(1)
    weights = {
        "small": torch.randn(50, 20) / 100,
        "big": torch.randn(20, 50),
        "out": torch.randn(10),
    }
    p = plan(weights, method="global_magnitude")
    total = sum(w.numel() for w in weights.values())
    assert p.total == total == 2010
    for k in range(p.levels):
        masks = p.masks(k)
        kept = torch.cat([w[masks[n]].abs() for n, w in weights.items()])
        pruned = torch.cat([w[~masks[n]].abs() for n, w in weights.items()])
        assert p.remaining(k) == kept.numel() == expected_kept(total, k, "original")
        if kept.numel() and pruned.numel():
            assert pruned.max() < kept.min()
    # the small-scaled layer goes first: at 40% pruned (804) it holds nearly all the pruned,
    # where layer-wise pruning would take 40% of each layer
    assert int(p.pruned[20].sum()) == 804 and p.pruned[20, 0] > 0.95 * 804


def test_global_ties_break_by_layer_order_then_index():
    p = plan({"a": torch.ones(4), "b": torch.ones(4)}, method="global_magnitude", step=0.125)
    assert p.pruned[:, 0].tolist() == [0, 1, 2, 3, 4, 4, 4, 4, 4]
    assert p.pruned[:, 1].tolist() == [0, 0, 0, 0, 0, 1, 2, 3, 4]


def test_random_masks_have_the_schedule_counts_and_depend_on_the_seed():
    torch.manual_seed(2)
    weights = {"a": torch.randn(40, 30), "b": torch.randn(7, 40)}
    p0, p0_again, p1 = (plan(weights, method="random", seed=s) for s in (0, 0, 1))
    for k in range(p0.levels):
        for name, w in weights.items():
            assert int(p0.masks(k)[name].sum()) == expected_kept(w.numel(), k, "original")
        assert p0.remaining(k) == p1.remaining(k)
    assert all(torch.equal(a, b) for a, b in zip(p0.orders, p0_again.orders, strict=True))
    assert not torch.equal(p0.masks(25)["a"], p1.masks(25)["a"])
    # random is not magnitude: some large weights are pruned at level 25
    mask = p0.masks(25)["a"]
    assert weights["a"][~mask].abs().max() > weights["a"][mask].abs().min()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"schedule": "geometric"}, "schedule"),
        ({"method": "snip"}, "method"),
        ({"step": 0.0}, "step"),
        ({"schedule": "remaining", "min_density": 0.0}, "min_density"),
    ],
)
def test_bad_settings_are_reported(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plan({"w": torch.ones(3)}, **kwargs)


def test_levels_outside_the_schedule_are_refused():
    with pytest.raises(ValueError, match="outside"):
        magnitude_masks({"w": torch.ones(3)}, level=51)
