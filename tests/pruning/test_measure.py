"""The measured pruning trajectory against a straightforward reference (deepcopy + explicit mask)."""

import copy
from itertools import pairwise

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import propensity.pruning.measure as measure_module
from propensity.models import MLP, Conv2, ResNet, initialize
from propensity.pruning.masks import plan
from propensity.pruning.measure import measure_trajectory
from propensity.pruning.prunable import prunable_weights

pytestmark = pytest.mark.usefixtures("one_thread")


def reference(model, x, y, masks):
    """Accuracy and mean cross-entropy of a copy with its weights multiplied by `masks`."""
    pruned = copy.deepcopy(model).eval()
    with torch.no_grad():
        for name, w in prunable_weights(pruned):
            w.mul_(masks[name])
        logits = pruned(x)
    acc = int((logits.argmax(1) == y).sum()) / len(y)
    return acc, F.cross_entropy(logits, y).item()


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_bitwise(model, before):
    after = model.state_dict()
    assert after.keys() == before.keys()
    for k, v in before.items():
        assert torch.equal(
            after[k].reshape(-1).view(torch.uint8), v.reshape(-1).view(torch.uint8)
        ), k


def make(kind):
    torch.manual_seed(0)
    if kind == "mlp":
        model, shape = MLP(0.1, input_shape=(1, 8, 8)), (1, 8, 8)
    elif kind == "conv2":
        model, shape = Conv2(0.1, input_shape=(3, 8, 8)), (3, 8, 8)
    else:
        model, shape = ResNet(0.25, input_shape=(3, 8, 8)), (3, 8, 8)
        for m in model.modules():  # non-trivial running statistics and affine parameters
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -0.2, 0.2)
    initialize(model, "he", init_seed=0)  # zero biases: labels below are not one class
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(300, *shape, generator=gen)
    # labels the unpruned model mostly gets right, so pruning has something to lose
    with torch.no_grad():
        y = model.eval()(x).argmax(1)
    y[::4] = torch.randint(0, 10, y[::4].shape, generator=gen)
    return model.train(), x, y


@pytest.mark.parametrize("kind", ["mlp", "conv2", "resnet"])
def test_trajectory_equals_the_reference_at_every_level(kind):
    model, x, y = make(kind)
    before = snapshot(model)
    traj = measure_trajectory(model, x, y, batch_size=128)
    p = plan(model)
    assert traj.level == list(range(51)) and len(traj) == p.levels
    for k in range(0, p.levels, 1 if kind == "mlp" else 5):
        acc, loss = reference(model, x, y, p.masks(k))
        assert traj.val_acc[k] == pytest.approx(acc, abs=1e-12), k
        assert traj.val_loss[k] == pytest.approx(loss, rel=1e-5), k
    assert traj.density[0] == 1.0 and traj.density[-1] == 0.0
    assert traj.remaining_weights[0] == sum(w.numel() for _, w in prunable_weights(model))
    assert traj.val_acc[0] > 0.6 and min(traj.val_acc) < 0.4  # pruning really bites
    assert_bitwise(model, before)
    assert model.training


def test_modes_restored_per_module_and_eval_used_for_batchnorm():
    model, x, y = make("resnet")
    model.train()
    model.blocks[1].eval()
    traj = measure_trajectory(model, x, y)
    assert model.training and not model.blocks[1].training and model.blocks[0].training
    # evaluated in eval mode: level 0 equals the eval-mode accuracy, not the train-mode one
    with torch.no_grad():
        eval_acc = int((copy.deepcopy(model).eval()(x).argmax(1) == y).sum()) / len(y)
    assert traj.val_acc[0] == pytest.approx(eval_acc, abs=1e-12)


def test_weights_restored_after_an_exception(monkeypatch):
    model, x, y = make("mlp")
    before = snapshot(model)
    calls = {"n": 0}
    real = measure_module.evaluate

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 10:
            raise RuntimeError("out of memory")
        return real(*args, **kwargs)

    monkeypatch.setattr(measure_module, "evaluate", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        measure_trajectory(model, x, y)
    assert_bitwise(model, before)
    assert model.training


def test_biases_are_never_pruned():
    model, x, y = make("mlp")
    seen = []
    real = measure_module.evaluate

    def spy(*args, **kwargs):
        seen.append((model.fc1.bias.clone(), int((model.fc1.weight == 0).sum())))
        return real(*args, **kwargs)

    measure_module.evaluate, saved = spy, measure_module.evaluate
    try:
        measure_trajectory(model, x, y)
    finally:
        measure_module.evaluate = saved
    assert seen[-1][1] == model.fc1.weight.numel()  # fully pruned at the last level
    assert all(torch.equal(bias, model.fc1.bias) for bias, _ in seen)


def test_test_split_and_remaining_schedule():
    model, x, y = make("mlp")
    traj = measure_trajectory(model, x[:200], y[:200], schedule="remaining", x_test=x[200:], y_test=y[200:])
    assert len(traj) == 229 and traj.density[-1] <= 0.01 < traj.density[-2]
    assert all(a >= b for a, b in pairwise(traj.density))
    p = plan(model, schedule="remaining")
    acc, loss = reference(model, x[200:], y[200:], p.masks(100))
    assert traj.test_acc[100] == pytest.approx(acc, abs=1e-12)
    assert traj.test_loss[100] == pytest.approx(loss, rel=1e-5)
    assert "test_acc" in traj.to_frame().columns


def test_global_magnitude_trajectory_equals_the_reference():
    model, x, y = make("mlp")
    traj = measure_trajectory(model, x, y, method="global_magnitude")
    p = plan(model, method="global_magnitude")
    assert traj.method == "global_magnitude"
    for k in (0, 10, 30, 45):
        assert traj.val_acc[k] == pytest.approx(reference(model, x, y, p.masks(k))[0], abs=1e-12)


def test_random_trajectory_averages_seeds_at_the_exact_density():
    model, x, y = make("mlp")
    traj = measure_trajectory(model, x, y, method="random", mask_seeds=(3, 4))
    total = sum(w.numel() for _, w in prunable_weights(model))
    assert traj.remaining_weights == [plan(model).remaining(k) for k in range(51)]
    assert traj.density == [r / total for r in traj.remaining_weights]
    for k in (0, 20, 40):
        accs = [reference(model, x, y, plan(model, "random", seed=s).masks(k))[0] for s in (3, 4)]
        assert traj.val_acc[k] == pytest.approx(sum(accs) / 2, abs=1e-12)
    assert traj.extra["val_acc_std"][0] == 0.0 and len(traj.extra["val_loss_std"]) == 51


def test_progress_bar_and_argument_checks(capsys):
    model, x, y = make("mlp")
    assert len(measure_trajectory(model, x, y, step=0.25, progress=True)) == 5
    assert "pruning" not in capsys.readouterr().err  # quicker than the default delay
    traj = measure_trajectory(model, x, y, step=0.25, progress=True, progress_delay=0)
    assert len(traj) == 5
    assert "pruning" in capsys.readouterr().err
    with pytest.raises(ValueError, match="x_test"):
        measure_trajectory(model, x, y, x_test=x)
