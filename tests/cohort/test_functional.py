"""The generic stack: any model class as a cohort, each member its own single model.

Outputs and gradients are compared in float64, where the only difference (the summation
order of the kernels vmap batches into) is ~1e-16 relative, far below assert_close's 1e-7;
float32 training is compared against single runs through the recipe in
tests/models/test_own_model.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from propensity.cohort import stack, stackable
from propensity.cohort.fit import MemberData, fit_stack
from propensity.cohort.functional import FunctionalStack, stack_problem
from propensity.cohort.prune import walk_cohort
from propensity.models import initialize
from propensity.pruning import measure, prunable_weights
from propensity.pruning.masks import plan

SHAPE = (1, 8, 8)


class TanhNet(nn.Module):
    """Flatten, Linear, Tanh, LayerNorm, Linear: no hand-written stack exists for it."""

    def __init__(self, width: float = 1.0, input_shape=SHAPE, num_classes: int = 10) -> None:
        super().__init__()
        hidden = max(1, int(32 * width))
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(input_shape).prod()), hidden),
                                 nn.Tanh(), nn.LayerNorm(hidden), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class NormNet(nn.Module):
    """A convolution with BatchNorm in training mode: its running statistics are per member."""

    def __init__(self, width: float = 1.0, input_shape=SHAPE, num_classes: int = 10) -> None:
        super().__init__()
        c = max(1, int(8 * width))
        self.conv = nn.Conv2d(input_shape[0], c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3)))


class DropNet(TanhNet):
    def __init__(self, width: float = 1.0, input_shape=SHAPE, num_classes: int = 10) -> None:
        super().__init__(width, input_shape, num_classes)
        self.net.insert(3, nn.Dropout(0.1))


class ItemNet(TanhNet):
    """Python control flow on a tensor's value: vmap cannot batch it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net[1](self.net[0](x))
        return self.net[4](h) if h.sum().item() > 0 else self.net[4](-h)


def models(cls: type, k: int = 3) -> list[nn.Module]:
    return [initialize(cls(1.0, SHAPE).double(), "glorot", seed) for seed in range(k)]


@pytest.mark.parametrize("cls", [TanhNet, NormNet])
def test_generic_stack_members_compute_their_single_models(cls: type) -> None:
    singles = models(cls)
    cohort = stack(singles)
    assert isinstance(cohort, FunctionalStack) and stackable(singles[0])
    x = torch.randn(3, 16, *SHAPE, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cohort.train()
    cohort(x).square().sum().backward()
    for k, single in enumerate(singles):
        single.train()
        single(x[k]).square().sum().backward()
        for name, param in single.named_parameters():
            torch.testing.assert_close(cohort.tensor(name).grad[k], param.grad, msg=name)
        for name, buffer in single.named_buffers():  # BatchNorm's statistics moved per member
            torch.testing.assert_close(cohort.tensor(name)[k], buffer, msg=name)
    cohort.eval()
    shared = x[0].unsqueeze(0).expand(3, *x.shape[1:])
    with torch.no_grad():
        out = cohort(shared)
        for k, single in enumerate(singles):
            torch.testing.assert_close(out[k], single.eval()(x[0]))


def test_generic_stack_fits_members_as_their_single_models() -> None:
    """`fit` with the generic stack: members leave it apart (one stops after an epoch) and each
    ends where its single model trained alone ends, in float64."""
    singles = models(TanhNet, 2)
    reference = models(TanhNet, 2)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(40, *SHAPE, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 10, (40,), generator=gen)
    member = [MemberData(x[:32], y[:32], x[32:], y[32:], batch_seed=s) for s in (0, 1)]

    class Epochs:
        def __init__(self, n: int) -> None:
            self.n = n

        def after_epoch(self, epoch, metrics, max_epochs):
            return type("V", (), {"stop": epoch >= self.n, "best": False})()

    def sgd(params):
        return torch.optim.SGD(params, lr=0.1)

    fit_stack(singles, member, sgd, [Epochs(1), Epochs(2)], 2, 8)
    for model, m, epochs in zip(reference, member, (1, 2), strict=True):
        fit_stack([model], [m], sgd, [Epochs(epochs)], epochs, 8)
    for a, b in zip(singles, reference, strict=True):
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(p, q, msg=name)


def test_generic_stack_is_walked_batched_as_each_model_alone() -> None:
    singles = models(TanhNet, 2)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(30, *SHAPE, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 10, (30,), generator=gen)
    plans = [[plan(prunable_weights(m), "magnitude", 0.25) for m in singles]]
    batched = walk_cohort(singles, plans, [[(x, y), (x, y)]], levels_at_once=2)
    for k, model in enumerate(singles):
        alone = measure.walk_model(model, [plans[0][k]], [(x, y)])
        assert torch.equal(batched[..., k, :, 0], alone[..., 0])  # correct predictions
        # each batch's loss is summed in float32 (evaluate's contract): a few float32 ulps
        torch.testing.assert_close(batched[..., k, :, 1], alone[..., 1], rtol=8 * 2**-24, atol=0)


def test_dropout_is_refused_naming_the_module() -> None:
    problem = stack_problem(DropNet())
    assert problem is not None and "module 'net.3' (Dropout, p=0.1) draws random numbers" in problem
    with pytest.raises(ValueError, match=r"cannot stack DropNet: module 'net.3'"):
        stack([DropNet(), DropNet()])
    assert stack_problem(DropNet().eval()) is not None  # refused whatever the mode: it trains


def test_a_forward_vmap_cannot_run_is_found_by_the_probe() -> None:
    assert stack_problem(ItemNet()) is None  # nothing in its modules says so ...
    problem = stack_problem(ItemNet(), SHAPE)  # ... its forward does
    assert problem is not None and problem.startswith("ItemNet.forward does not run once per member")
    assert stack_problem(TanhNet(), SHAPE) is None and stack_problem(NormNet(), SHAPE) is None


class _StoppedError(Exception):
    pass


@pytest.mark.parametrize("cls", [TanhNet, NormNet])
def test_a_generic_cohort_resumes_bitwise_after_a_member_left(cls: type, tmp_path) -> None:
    """Members leave the generic stack (their parameters, buffers and Adam state sliced out),
    the cohort's state is saved after every epoch, and a resumed cohort ends bitwise where the
    uninterrupted one ends."""
    from propensity.data import SyntheticDataModule
    from propensity.engines.stopping import TrainForEpochs

    dm = SyntheticDataModule(train_size=192, val_size=64, batch_size=32)
    dm.setup()
    member = [MemberData(dm.x_train, dm.y_train, dm.x_val, dm.y_val, s) for s in (10, 11, 12)]

    def make() -> list[nn.Module]:
        return [initialize(cls(0.5, SHAPE), "glorot", s) for s in range(3)]

    def rules() -> list[TrainForEpochs]:
        rule = [TrainForEpochs() for _ in range(3)]
        rule[1].after_epoch = lambda epoch, metrics, max_epochs: type(  # member 1 leaves after 1
            "V", (), {"stop": epoch >= 1, "best": False})()
        return rule

    def adam(params):
        return torch.optim.Adam(params, lr=1e-2)

    whole_models = make()
    whole = fit_stack(whole_models, member, adam, rules(), 3, 32)

    def interrupt(end) -> None:
        torch.save(end.state(), tmp_path / "last.pt")
        if end.epoch == 2:
            raise _StoppedError

    with pytest.raises(_StoppedError):
        fit_stack(make(), member, adam, rules(), 3, 32, on_epoch=interrupt)
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["active"] == [0, 2]
    resumed_models = make()
    resumed = fit_stack(resumed_models, member, adam, rules(), 3, 32, resume=state)
    assert resumed == whole
    for model, reference in zip(resumed_models, whole_models, strict=True):
        for (name, p), q in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
            assert torch.equal(p, q), name


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_generic_cuda_cohort_computes_its_members_on_cuda() -> None:
    """On CUDA, in float64 (no TF32 there): outputs, gradients and BatchNorm statistics of each
    member equal its single model's on CUDA to float64 rounding."""
    for cls in (TanhNet, NormNet):
        singles = [m.cuda() for m in models(cls)]
        cohort = stack(singles).cuda().train()
        x = torch.randn(3, 16, *SHAPE, dtype=torch.float64, device="cuda")
        cohort(x).square().sum().backward()
        for k, single in enumerate(singles):
            single.train()(x[k]).square().sum().backward()
            for name, param in single.named_parameters():
                torch.testing.assert_close(cohort.tensor(name).grad[k], param.grad, msg=name)
            for name, buffer in single.named_buffers():
                torch.testing.assert_close(cohort.tensor(name)[k], buffer, msg=name)


def test_a_model_vmap_cannot_run_walks_alone_whatever_levels_at_once() -> None:
    """A single run's own model is walked L levels a forward as a stack of L copies; one whose
    forward fails under vmap walks alone instead, with the same trajectory."""
    from propensity.measurements import MemberSplits, measure_pruning
    from propensity.pruning import PruningSettings

    model = initialize(ItemNet(1.0, SHAPE), "glorot", 0)
    gen = torch.Generator().manual_seed(5)
    x, y = torch.randn(40, *SHAPE, generator=gen), torch.randint(0, 10, (40,), generator=gen)
    settings = PruningSettings(step=0.25)
    one, four = (measure_pruning([model], [MemberSplits((x, y))], settings, levels_at_once=n)[0]
                 for n in (1, 4))
    assert one.trajectories[0].to_frame().equals(four.trajectories[0].to_frame())
