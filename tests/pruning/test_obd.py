"""OBD's Hessian diagonal against torch.autograd's, on the paper's three networks and beyond (section 6).

Every comparison is in float64 on tiny models, where the two computations differ only by the
order of their sums: rounding far below 1e-9 relative. ``obd`` must equal the diagonal of
``torch.autograd.functional.hessian`` wherever it scores; on a network that is not piecewise
linear in its weights it must refuse, and ``obd_gn`` must equal the Gauss-Newton diagonal
J^T H_z J built from ``torch.autograd.functional.jacobian``, which there differs from the Hessian's.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from propensity.models import MLP, ViT, initialize
from propensity.pruning import obd as module
from propensity.pruning.obd import obd_refusal
from propensity.pruning.prunable import prunable_weights
from propensity.pruning.scores import obd, obd_gn
from tests.pruning.test_scores import _data, _tiny


class TanhNet(nn.Sequential):
    """The README's example of a researcher's own model, verbatim."""

    def __init__(self, width=1.0, input_shape=(1, 28, 28), num_classes=10):
        hidden = max(1, int(64 * width))
        super().__init__(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.Tanh(),
                         nn.LayerNorm(hidden), nn.Linear(hidden, num_classes))


class InPlaceNet(nn.Module):
    """ReLUs in place after layers, and a residual sum written into a layer's output."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(9, 6), nn.Linear(6, 6), nn.Linear(6, 3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.relu(self.fc1(x.flatten(1)))
        g = self.fc2(h)
        g += h
        return self.fc3(self.relu(g))


class TwiceNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc, self.out = nn.Linear(9, 9), nn.Linear(9, 3)

    def forward(self, x):
        return self.out(torch.relu(self.fc(torch.relu(self.fc(x.flatten(1))))))


class ProductNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.out = nn.Linear(9, 4), nn.Linear(9, 4), nn.Linear(4, 3)

    def forward(self, x):
        return self.out(self.a(x.flatten(1)) * self.b(x.flatten(1)))


def _double(model, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
    return model.double().eval()


def _exact_and_gauss_newton(model, x, y, *, exact=True):
    """Per prunable layer: the Hessian diagonal (None unless `exact`) and the Gauss-Newton
    diagonal of the mean cross-entropy, each from torch.autograd on the whole layer."""
    params, buffers = dict(model.named_parameters()), dict(model.named_buffers())
    out = []
    for name, w in prunable_weights(model):
        w0 = w.detach()

        def logits(v, name=name):
            return functional_call(model, ({**params, name: v}, buffers), (x,))

        diagonal = None
        if exact:
            hessian = torch.autograd.functional.hessian(lambda v: F.cross_entropy(logits(v), y), w0)
            diagonal = hessian.reshape(w0.numel(), w0.numel()).diagonal().view_as(w0)
        jacobian = torch.autograd.functional.jacobian(logits, w0).flatten(2)  # n x C x weights
        p = torch.softmax(logits(w0).detach(), dim=1)
        h_z = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        gauss_newton = torch.einsum("ncw,ncd,ndw->w", jacobian, h_z, jacobian).view_as(w0) / len(x)
        out.append((diagonal, gauss_newton, w0))
    return out


def _close(score, diagonal, w0):
    expected = (0.5 * diagonal * w0.square()).abs()
    torch.testing.assert_close(score, expected, rtol=1e-9, atol=1e-12 * float(expected.max()))


@pytest.mark.parametrize("kind", ["mlp", "conv2", "resnet"])
def test_obd_is_the_exact_hessian_diagonal_on_the_papers_networks(kind, one_thread):
    model = _tiny(kind)
    x, y = _data(model, n=5)
    layers = _exact_and_gauss_newton(model, x, y)
    for score, gn, (exact, gauss_newton, w0) in zip(obd([model], [(x, y)])[0], obd_gn([model], [(x, y)])[0],
                                                    layers, strict=True):
        _close(score, exact, w0)
        _close(gn, gauss_newton, w0)  # piecewise linear: the two diagonals are one


def test_obd_is_exact_with_in_place_activations_and_sums(one_thread):
    model = _double(InPlaceNet())
    x, y = torch.randn(6, 1, 3, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    assert obd_refusal(model, (1, 3, 3)) is None
    layers = _exact_and_gauss_newton(model, x, y)
    for score, (exact, _, w0) in zip(obd([model], [(x, y)])[0], layers, strict=True):
        _close(score, exact, w0)


def test_obd_refuses_the_readmes_tanh_network_and_obd_gn_is_its_gauss_newton_diagonal(one_thread):
    model = _double(TanhNet(0.1, (1, 3, 3), 3))
    x, y = torch.randn(6, 1, 3, 3, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2])
    refusal = obd_refusal(model, (1, 3, 3))
    assert refusal is not None and refusal.startswith("module '2' (Tanh) applies tanh")
    assert "use obd_gn" in refusal
    with pytest.raises(ValueError, match=r"obd cannot score TanhNet: module '2' \(Tanh\) applies tanh"):
        obd([model], [(x, y)])
    layers = _exact_and_gauss_newton(model, x, y)
    for gn, (_, gauss_newton, w0) in zip(obd_gn([model], [(x, y)])[0], layers, strict=True):
        _close(gn, gauss_newton, w0)
    # why obd refuses: before Tanh and LayerNorm, their curvature moves the exact diagonal far
    # from the Gauss-Newton one, to negative entries (Gauss-Newton's never are); after them, the
    # logits are linear in the weights and the two agree
    (exact, gauss_newton, _), (last_exact, last_gauss_newton, _) = layers
    assert float((exact - gauss_newton).norm() / exact.norm()) > 0.05 and bool((exact < 0).any())
    torch.testing.assert_close(last_exact, last_gauss_newton, rtol=1e-9, atol=1e-12)


def test_obd_gn_on_a_transformer_sums_each_dense_layer_over_its_tokens(one_thread):
    model = initialize(ViT(0.25, (1, 4, 4), 3, patch_size=2, depth=1), "glorot", 0)
    model = _double(model)
    x, y = torch.randn(4, 1, 4, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    assert "LayerNorm" in str(obd_refusal(model, (1, 4, 4)))
    layers = _exact_and_gauss_newton(model, x, y, exact=False)
    for gn, (_, gauss_newton, w0) in zip(obd_gn([model], [(x, y)])[0], layers, strict=True):
        _close(gn, gauss_newton, w0)


def _dense(*middle):
    return nn.Sequential(nn.Flatten(), nn.Linear(9, 4), *middle, nn.Linear(4, 3))


@pytest.mark.parametrize(("model", "shape", "reason"), [
    (TwiceNet(), (1, 3, 3), "module 'fc' (Linear) is called 2 times per forward"),
    (ProductNet(), (1, 3, 3), "the forward of ProductNet applies mul of two activations"),
    (_dense(nn.BatchNorm1d(4, track_running_stats=False)), (1, 3, 3),
     "module '2' (BatchNorm1d) applies batch_norm with batch statistics"),
    (_dense(nn.GELU()), (1, 3, 3), "module '2' (GELU) applies gelu"),
    (_dense(nn.Softmax(dim=1)), (1, 3, 3), "module '2' (Softmax) applies softmax"),
    (nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(28, 3)), (1, 16),
     "module '0' (Conv1d): OBD's per-sample"),
])
def test_obd_refuses_in_one_line_naming_the_module(model, shape, reason):
    refusal = obd_refusal(model, shape)
    assert refusal is not None and refusal.startswith(reason) and "\n" not in refusal
    assert refusal.count(";") == 1  # problem; fix


def test_obd_takes_eval_mode_dropout_batchnorm_and_pools():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(inplace=True),
                          nn.MaxPool2d(2), nn.Dropout(0.5), nn.Flatten(), nn.Linear(8, 3)).train()
    assert obd_refusal(model, (1, 4, 4)) is None
    assert model.training  # the probe runs in eval mode and leaves the modes as they were


@pytest.mark.parametrize("kind", ["conv2", "resnet"])
def test_obd_in_small_pieces_is_obd_at_once(kind, monkeypatch, one_thread):
    """The memory bound splits samples into batches and convolutions' per-sample gradients into
    pieces; the sums are the same up to float64 rounding of their order."""
    model = _tiny(kind)
    x, y = _data(model)
    whole = obd([model], [(x, y)])[0]
    monkeypatch.setattr(module, "GRADIENT_ELEMENTS", 1)
    for a, b in zip(obd([model], [(x, y)])[0], whole, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15 * float(b.abs().max()))


def test_obd_on_the_meta_built_paper_models_is_accepted():
    """The pre-flight asks of a model built on the meta device: no weights, no arithmetic."""
    with torch.device("meta"):
        model = MLP(2.0, (1, 28, 28), 10)
    assert obd_refusal(model, (1, 28, 28)) is None
