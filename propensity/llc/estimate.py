"""The local learning coefficient of a trained model, estimated by SGLD (beyond the paper).

The paper's discussion (section 5) proposes a second measure of a network's 'true' size as it
widens: the real log canonical threshold of singular learning theory, estimated at trained
weights w* as the local learning coefficient (LLC; Lau, Murfet and Wei 2023, the paper's
reference 17)::

    llc = n*beta * (E_w[L_n(w)] - L_n(w*))

where the expectation is over a posterior tempered by the inverse temperature n*beta and
localized around w* by a Gaussian of strength gamma, sampled with stochastic-gradient Langevin
dynamics (SGLD). A regular model with d parameters has llc = d/2; singular ones (all neural
networks) have less.

The sampler and the estimator are devinterp's (`devinterp.slt.sampler.sample` with its
`LLCEstimator` callback and the `SGMCMC.sgld` optimizer); this module only feeds them tensors,
measures L_n(w*) on the whole training set, keeps every chain's loss trace and judges whether
the estimate can be trusted (`check_chains`). It knows nothing of Lightning or Hydra.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from propensity.specs import MAX_COUNT, Number, Optional, Spec, setting

TRACES = "llc_traces.csv"
INSTALL_HINT = "the LLC estimate needs devinterp: pip install propensity[llc]"
# A chain's tail: the last half of its draws, where a healthy trace has levelled off.
TAIL_FRACTION = 0.5
# "Clearly below" the trained loss: the tail's mean lies more than this many standard errors below.
BELOW_SIGMAS = 3.0

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _at_least(low: int) -> Number:
    return Number(low, MAX_COUNT, f"an integer >= {low}", integer=True)


def devinterp_available() -> bool:
    """Whether the optional extra ``propensity[llc]`` is installed."""
    try:
        import devinterp.slt.sampler  # noqa: F401
    except ImportError:
        return False
    return True


def require_devinterp() -> None:
    """Raise a one-line `ImportError` naming the fix when devinterp is missing."""
    if not devinterp_available():
        raise ImportError(INSTALL_HINT)


@dataclass
class LLCEstimate:
    """One estimate: its mean and std over chains, every chain's trace, and whether to trust it."""

    mean: float
    std: float
    per_chain: list[float]
    traces: np.ndarray  # (chains, draws) minibatch loss at each draw; NaN where never drawn
    init_loss: float  # L_n(w*), the trained model's loss on the whole training set
    nbeta: float
    valid: bool
    reason: str  # empty when valid, else why not, in words
    settings: dict[str, float | int] = field(default_factory=dict)

    def record_fields(self) -> dict[str, float | bool | str | None]:
        """The run record's ``llc_*`` fields; NaN (a chain diverged) becomes null, which JSON holds."""
        return {"llc_mean": _finite_or_none(self.mean), "llc_std": _finite_or_none(self.std),
                "llc_valid": self.valid, "llc_reason": self.reason or None}

    def save_traces(self, run_dir: str | Path) -> None:
        """Write every chain's trace to the run folder's ``llc_traces.csv``, atomically."""
        from propensity.storage.atomic import write_text_atomic

        write_text_atomic(Path(run_dir) / TRACES, self.traces_frame().to_csv(index=False))

    def traces_frame(self) -> pd.DataFrame:
        """Long table ``chain, draw, loss, init_loss`` (the run folder's ``llc_traces.csv``)."""
        chains, draws = self.traces.shape
        return pd.DataFrame(
            {
                "chain": np.repeat(np.arange(chains), draws),
                "draw": np.tile(np.arange(draws), chains),
                "loss": self.traces.reshape(-1),
                "init_loss": self.init_loss,
            }
        )


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class LLCSettings(Spec):
    """The estimator's settings, ``propensity/conf/llc/sgld.yaml`` (devinterp 1.3's own for a
    small classifier); `estimate_llc` takes them as keyword arguments."""

    group: ClassVar[str] = "llc"
    lr: float = setting(4e-4, Number(0, math.inf, "an SGLD step size, e.g. llc.lr=4e-4", low_open=True))
    localization: float = setting(100.0, Number(0, math.inf, "e.g. llc.localization=100"))
    nbeta: float | None = setting(None, Optional(Number(
        0, math.inf, "e.g. llc.nbeta=100, or null for batch_size / log(batch_size)", low_open=True)))
    num_chains: int = setting(3, _at_least(2))
    num_draws: int = setting(100, _at_least(2))
    num_burnin_steps: int = setting(0, _at_least(0))
    num_steps_bw_draws: int = setting(1, _at_least(1))
    batch_size: int = setting(256, _at_least(2))
    seed: int = setting(0, _at_least(0))


# The keyword defaults of `estimate_llc`: the settings' own, written once.
DEFAULTS = LLCSettings()


def check_chains(
    traces: np.ndarray,
    init_loss: float,
    tail_fraction: float = TAIL_FRACTION,
    sigmas: float = BELOW_SIGMAS,
) -> tuple[bool, str]:
    """Whether every chain stayed finite and near the trained minimum, and if not, why.

    Two failures make an estimate invalid (it is never averaged into a result):

    - a chain diverged: a loss at any draw is NaN or infinite;
    - a chain left the local minimum: the mean of its tail (the last `tail_fraction` of
      draws) is *clearly* below the trained model's loss L_n(w*), that is, more than `sigmas`
      standard errors of that mean below it. At a minimum the sampled loss sits above
      L_n(w*) by about llc / n*beta, so a tail clearly below it means the sampler found
      lower ground and the estimate would be negative or meaningless. The standard error
      ignores autocorrelation between draws, so the rule errs towards calling chains invalid.
    """
    traces = np.asarray(traces, dtype=float)
    for chain, trace in enumerate(traces):
        bad = np.flatnonzero(~np.isfinite(trace))
        if len(bad):
            value = "NaN" if np.isnan(trace[bad[0]]) else "infinite"
            return False, f"chain {chain} diverged: {value} loss at draw {int(bad[0])}"
    for chain, trace in enumerate(traces):
        tail = trace[len(trace) - max(2, math.ceil(tail_fraction * len(trace))):]
        mean = float(tail.mean())
        se = float(tail.std(ddof=1)) / math.sqrt(len(tail)) if len(tail) > 1 else 0.0
        if mean < init_loss - sigmas * se:
            return False, (
                f"chain {chain} left the local minimum: its last {len(tail)} draws average loss "
                f"{mean:.4g}, below the trained loss {init_loss:.4g} by more than {sigmas:g} "
                f"standard errors ({se:.2g})"
            )
    return True, ""


def dataset_loss(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss: Loss, batch_size: int
) -> float:
    """L_n(w*): the mean loss over all of (x, y), in the sampler's (train) mode, on a copy.

    A copy, so a BatchNorm layer's running statistics in the caller's model stay untouched.
    """
    probe = copy.deepcopy(model).train()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            total += float(loss(probe(xb), yb)) * len(xb)
    return total / len(x)


class SamplerBatches(DataLoader):
    """Shuffled minibatches of (x, y) on their device, for devinterp's sampler (the training
    loop's own `propensity.data.batches.TensorBatches` seeds its order per epoch instead).

    A `DataLoader` in name (devinterp reads its ``batch_size``) that gathers each minibatch
    with one index instead of collating samples one by one. Each pass draws a fresh order
    from torch's global generator, which devinterp seeds per chain; a batch as large as the
    data set is the data set itself.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> None:
        super().__init__(TensorDataset(x, y), batch_size=batch_size)

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:  # type: ignore[override]
        x, y = self.dataset.tensors
        if self.batch_size >= len(x):
            yield x, y
            return
        order = torch.randperm(len(x)).to(x.device)
        for start in range(0, len(x), self.batch_size):
            index = order[start : start + self.batch_size]
            yield x[index], y[index]


def estimate_llc(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float = DEFAULTS.lr,
    localization: float = DEFAULTS.localization,
    nbeta: float | None = DEFAULTS.nbeta,
    num_chains: int = DEFAULTS.num_chains,
    num_draws: int = DEFAULTS.num_draws,
    num_burnin_steps: int = DEFAULTS.num_burnin_steps,
    num_steps_bw_draws: int = DEFAULTS.num_steps_bw_draws,
    batch_size: int = DEFAULTS.batch_size,
    seed: int = DEFAULTS.seed,
    loss: Loss = F.cross_entropy,
) -> LLCEstimate:
    """Estimate the LLC of `model` at its current weights on the training tensors (x, y).

    `loss(outputs, targets)` must be the mean negative log-likelihood per sample (cross-entropy
    for a classifier), since the LLC is defined through it. `nbeta=None` takes devinterp's
    default, batch_size / log(batch_size). Defaults are those of devinterp's introduction
    notebook for an MNIST classifier. `model` itself is not modified: each chain samples a copy.
    """
    require_devinterp()
    from devinterp.optim.sgmcmc import SGMCMC
    from devinterp.slt.callback import SamplerCallback
    from devinterp.slt.llc import LLCEstimator
    from devinterp.slt.sampler import sample
    from devinterp.utils import default_nbeta

    batch_size = min(batch_size, len(x))
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    loader = SamplerBatches(x, y, batch_size)
    nbeta = float(default_nbeta(batch_size) if nbeta is None else nbeta)
    init_loss = dataset_loss(model, x, y, loss, batch_size)
    traces = np.full((num_chains, num_draws), np.nan)

    class Traces(SamplerCallback):  # records every draw, NaN included, before the estimator sees it
        def __call__(self, chain: int, draw: int, loss: torch.Tensor, **_: object) -> None:
            traces[chain, draw] = float(loss)

        def get_results(self) -> dict[str, object]:
            return {}

    estimator = LLCEstimator(num_chains, num_draws, init_loss=init_loss, device=device, nbeta=nbeta)
    settings = {"lr": lr, "localization": localization, "nbeta": nbeta, "num_chains": num_chains,
                "num_draws": num_draws, "num_burnin_steps": num_burnin_steps,
                "num_steps_bw_draws": num_steps_bw_draws, "batch_size": batch_size, "seed": seed}
    mean = std = math.nan
    per_chain = [math.nan] * num_chains
    try:
        with warnings.catch_warnings():  # devinterp's advice on seeds and burn-in, every call
            warnings.filterwarnings("ignore", module=r"devinterp\.")
            results = sample(
                model,
                loader,
                callbacks=[Traces(), estimator],
                evaluate=lambda m, batch: loss(m(batch[0]), batch[1]),
                sampling_method=SGMCMC.sgld,
                optimizer_kwargs={"lr": lr, "localization": localization, "nbeta": nbeta},
                num_draws=num_draws,
                num_chains=num_chains,
                num_burnin_steps=num_burnin_steps,
                num_steps_bw_draws=num_steps_bw_draws,
                init_loss=init_loss,
                seed=seed,
                device=device,
                verbose=False,
            )
        mean, std = float(results["llc/mean"]), float(results["llc/std"])
        per_chain = [float(results[f"llc-chain/{i}"]) for i in range(num_chains)]
    except RuntimeError as error:  # devinterp's estimator stops at the first NaN loss
        if "NaN" not in str(error):
            raise
    valid, reason = check_chains(traces, init_loss)
    return LLCEstimate(mean, std, per_chain, traces, init_loss, nbeta, valid, reason, settings)
