"""The scores beyond magnitude checked against independent computations on tiny models (section 6);
OBD's diagonal against autograd's Hessian in `test_obd`."""

import pytest
import torch
import torch.nn.functional as F

from propensity.models import MLP, Conv2, ResNet, initialize
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.scores import magnitude, obd, sample, scores, snip, synflow


def _tiny(kind, seed=0):
    torch.manual_seed(seed)
    if kind == "mlp":
        model = MLP(0.02, (1, 3, 3), 3)
    elif kind == "conv2":
        model = Conv2(0.05, (1, 4, 4), 3)
    else:
        model = ResNet(0.125, (1, 4, 4), 3)
    model = initialize(model, "glorot", seed).double()
    with torch.no_grad():  # non-zero biases and BatchNorm statistics: nothing vanishes by accident
        for name, p in model.named_parameters():
            if not name.endswith("weight") or p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.normal_(0, 0.1)
            elif name.endswith("running_var"):
                b.uniform_(0.5, 1.5)
    return model.eval()


def _data(model, n=7, seed=1):
    shape = (1, 3, 3) if isinstance(model, MLP) else (1, 4, 4)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g, dtype=torch.float64), torch.randint(0, 3, (n,), generator=g)


def _loss(model, x, y):
    return F.cross_entropy(model(x), y)


@pytest.mark.parametrize("kind", ["mlp", "conv2", "resnet"])
def test_snip_is_weight_times_the_autograd_gradient_of_the_mean_loss(kind, one_thread):
    model = _tiny(kind)
    x, y = _data(model)
    weights = [w for _, w in prunable_weights(model)]
    grads = torch.autograd.grad(_loss(model, x, y), weights)
    by_hand = [(w * g).detach().abs() for w, g in zip(weights, grads, strict=True)]
    got = snip([model], [(x, y)])[0]
    for a, b in zip(got, by_hand, strict=True):
        # float64 sums of a few hundred terms: rounding far below 1e-12 of the largest entry
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12 * float(b.abs().max()))


@pytest.mark.parametrize("score", [snip, obd])
@pytest.mark.parametrize("kind", ["mlp", "conv2", "resnet"])
def test_a_cohorts_scores_are_each_members_own(kind, score, one_thread):
    a, b = _tiny(kind, 0), _tiny(kind, 1)
    (xa, ya), (xb, yb) = _data(a, seed=2), _data(b, seed=3)
    together = score([a, b], [(xa, ya), (xb, yb)])
    for scores_of, model, data in ((together[0], a, (xa, ya)), (together[1], b, (xb, yb))):
        for s, t in zip(scores_of, score([model], [data])[0], strict=True):
            # the same float64 operations member by member: rounding far below 1e-12
            torch.testing.assert_close(s, t, rtol=1e-12, atol=1e-15 * float(t.abs().max()))


def test_synflow_is_the_gradient_of_the_path_sum_of_absolute_weights(one_thread):
    """For a bias-free linear chain, R = 1^T |W3| |W2| |W1| 1, so dR/dW1[i, j] = (1^T |W3||W2|)_i."""
    model = _tiny("mlp")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    w1, w2, w3 = (w.detach().abs() for _, w in prunable_weights(model))
    left = torch.ones(1, w3.shape[0], dtype=torch.float64) @ w3 @ w2  # 1 x h1
    expected_1 = w1 * left.T.expand_as(w1)
    x = torch.zeros(4, 1, 3, 3, dtype=torch.float64)
    got = synflow([model], [(x, torch.zeros(4, dtype=torch.long))])[0]
    torch.testing.assert_close(got[0], expected_1, rtol=1e-12, atol=0.0)
    right = w2 @ w1 @ torch.ones(w1.shape[1], 1, dtype=torch.float64)  # h2 x 1
    torch.testing.assert_close(got[2], w3 * right.T.expand_as(w3), rtol=1e-12, atol=0.0)


def test_scores_leave_the_model_as_it_was(one_thread):
    model = _tiny("resnet").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _data(model)
    for name in ("magnitude", "snip", "obd", "obd_gn", "synflow"):
        scores(name, [model], [(x, y)])
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_magnitude_is_the_absolute_weight():
    model = _tiny("mlp")
    for s, (_, w) in zip(magnitude([model], [None])[0], prunable_weights(model), strict=True):
        assert torch.equal(s, w.abs())


def test_the_sample_is_seeded_and_capped_at_the_split():
    x, y = torch.arange(10.0), torch.arange(10)
    a, b = sample(x, y, 4, seed=3), sample(x, y, 4, seed=3)
    assert torch.equal(a[0], b[0]) and len(a[0]) == 4 and torch.equal(a[0].long(), a[1])
    assert not torch.equal(sample(x, y, 4, seed=4)[0], a[0])
    assert len(sample(x, y, 100, seed=0)[0]) == 10
    with pytest.raises(ValueError, match="score_samples"):
        sample(x, y, 0, seed=0)


def test_scores_of_frozen_weights_are_those_of_trainable_ones(one_thread):
    model = _tiny("conv2")
    x, y = _data(model)
    expected = {name: scores(name, [model], [(x, y)])[0] for name in ("snip", "obd", "obd_gn", "synflow")}
    for p in model.parameters():
        p.requires_grad_(False)
    for name, want in expected.items():
        for got, w in zip(scores(name, [model], [(x, y)])[0], want, strict=True):
            torch.testing.assert_close(got, w, rtol=1e-12, atol=0.0)
