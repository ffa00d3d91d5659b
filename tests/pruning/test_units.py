"""Unit pruning against the smaller model built by hand: MLP, Conv-2 and ResNet (sections 2, 6)."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from propensity.models import MLP, Conv2, ResNet, initialize
from propensity.pruning.prunable import total_weights
from propensity.pruning.units import unit_groups, unit_masks, unit_orders, unit_trajectory


def _model(model, seed=0):
    model = initialize(model, "glorot", seed).double().eval()
    torch.manual_seed(seed)
    with torch.no_grad():  # biases and BatchNorm away from their defaults, so each one matters
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.2 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0, 0.2)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
    return model


def _prune(model, drop):
    """Zero the units `drop[group name]` in place; return the kept indices per group."""
    groups = unit_groups(model)
    removed = [torch.tensor(drop.get(g.name, []), dtype=torch.long) for g in groups]
    masks = unit_masks(model, groups, removed)
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask)
    return {g.name: torch.tensor([j for j in range(g.size) if j not in drop.get(g.name, [])])
            for g in groups}, masks


def _bn(x, bn, keep):
    return F.batch_norm(x, bn.running_mean[keep], bn.running_var[keep], bn.weight[keep],
                        bn.bias[keep], False, 0.0, bn.eps)


def _close(a, b):
    # float64 sums of < 1000 products of O(1) terms: rounding below 1e-12
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_mlp_units_give_the_smaller_mlp():
    model = _model(MLP(0.02, (1, 4, 4), 3))  # 16 -> 6 -> 2 -> 3
    original = {k: v.clone() for k, v in model.state_dict().items()}
    keep, masks = _prune(model, {"fc1": [0, 4], "fc2": [1]})
    k1, k2 = keep["fc1"], keep["fc2"]
    x = torch.randn(9, 1, 4, 4, dtype=torch.float64)
    o = original
    h1 = torch.relu(x.flatten(1) @ o["fc1.weight"][k1].T + o["fc1.bias"][k1])
    h2 = torch.relu(h1 @ o["fc2.weight"][k2][:, k1].T + o["fc2.bias"][k2])
    small = h2 @ o["proj.weight"][:, k2].T + o["proj.bias"]
    _close(model(x), small)
    removed = sum(int((~m).sum()) for n, m in masks.items() if n.endswith("weight"))
    assert removed == total_weights(model) - (16 * 4 + 4 * 1 + 1 * 3)


def test_conv2_channels_give_the_smaller_conv2():
    model = _model(Conv2(0.05, (1, 4, 4), 3))  # 3 channels, fc 12
    o = {k: v.clone() for k, v in model.state_dict().items()}
    keep, _ = _prune(model, {"conv1": [1], "conv2": [0, 2], "fc1": [3, 7], "fc2": [0]})
    c1, c2, f1, f2 = keep["conv1"], keep["conv2"], keep["fc1"], keep["fc2"]
    x = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    a1 = torch.relu(F.conv2d(x, o["conv1.weight"][c1], o["conv1.bias"][c1], padding=1))
    a2 = torch.relu(F.conv2d(a1, o["conv2.weight"][c2][:, c1], o["conv2.bias"][c2], padding=1))
    flat = F.max_pool2d(a2, 2).flatten(1)
    per = 4  # (4 / 2) ** 2 inputs of fc1 per channel
    columns = torch.cat([torch.arange(c * per, (c + 1) * per) for c in c2.tolist()])
    a3 = torch.relu(flat @ o["fc1.weight"][f1][:, columns].T + o["fc1.bias"][f1])
    a4 = torch.relu(a3 @ o["fc2.weight"][f2][:, f1].T + o["fc2.bias"][f2])
    _close(model(x), a4 @ o["proj.weight"][:, f2].T + o["proj.bias"])


def test_resnet_channels_respect_the_residual_additions():
    model = _model(ResNet(0.25, (1, 4, 4), 3))  # 4 channels
    o = {k: v.clone() for k, v in model.state_dict().items()}
    original_bn = {n: SimpleNamespace(**{k: o[f"{n}.{k}"] for k in ("running_mean", "running_var",
                                                                      "weight", "bias")}, eps=m.eps)
                   for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    keep, _ = _prune(model, {"stream": [2], "blocks.0.inner": [0, 3], "blocks.2.inner": [1]})
    s = keep["stream"]
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    h = torch.relu(_bn(F.conv2d(x, o["stem.weight"][s], padding=1), original_bn["bn"], s))
    for i in range(3):
        b, inner = f"blocks.{i}", keep[f"blocks.{i}.inner"]
        mid = torch.relu(_bn(F.conv2d(h, o[f"{b}.conv1.weight"][inner][:, s], padding=1),
                             original_bn[f"{b}.bn1"], inner))
        out = _bn(F.conv2d(mid, o[f"{b}.conv2.weight"][s][:, inner], padding=1), original_bn[f"{b}.bn2"], s)
        h = torch.relu(out + h)
    _close(model(x), h.mean(dim=(2, 3)) @ o["proj.weight"][:, s].T + o["proj.bias"])


def test_units_go_smallest_incoming_norm_first():
    model = _model(MLP(0.02, (1, 4, 4), 3))
    with torch.no_grad():
        model.fc1.weight.mul_(torch.arange(1, 7, dtype=torch.float64).flip(0).view(6, 1) * 10)
    norms = model.fc1.weight.norm(dim=1)
    assert torch.equal(unit_orders(model, unit_groups(model))[0], torch.argsort(norms, stable=True))


@pytest.mark.parametrize("make", [lambda: MLP(0.1, (1, 8, 8), 10), lambda: Conv2(0.05, (1, 8, 8), 10),
                                  lambda: ResNet(0.25, (1, 8, 8), 10)])
def test_the_unit_trajectory_records_both_densities_and_restores_the_model(make, one_thread):
    model = initialize(make(), "glorot", 0).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(40, 1, 8, 8), torch.randint(0, 10, (40,))
    t = unit_trajectory(model, [(x, y), (x, y)], step=0.25)
    assert t.density[0] == 1.0 and t.extra["unit_density"][0] == 1.0
    assert t.density[-1] == 0.0 and t.extra["unit_density"][-1] == 0.0
    assert all(a >= b for a, b in zip(t.density, t.density[1:], strict=False))
    assert t.test_acc == t.val_acc and t.method == "units"
    assert t.val_acc[0] == int((model.eval()(x).argmax(1) == y).sum()) / 40
    model.train()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert model.training
