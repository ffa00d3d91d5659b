"""How many members of a cohort fit in memory at once (the grid of section 3.1 at scale).

A cohort of K members holds K copies of everything a single run holds on its device:
weights, gradients and optimiser state, the activations of one batch, and the data of its
data seeds. `member_bytes` estimates one member's share from the single model (parameter
counts, and the activations autograd keeps for backward, measured on a batch of one and
two samples), `budget_bytes` says how much the device may hold (``cohort_memory_gb``, or a
stated fraction of what is free), and `chunk_sizes` splits K members into near-equal chunks
that each fit. Estimates aim a little high: a chunk that still runs out of memory is halved
by the caller.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# Per-element optimiser state, in copies of the parameters (section 3.1's optimisers, no
# weight decay): SGD keeps a momentum buffer only when momentum > 0, Adam its two moments,
# Adagrad its sum of squared gradients.
OPTIMIZER_STATES: dict[str, int] = {"sgd": 0, "adam": 2, "adagrad": 1}
# Parameter-sized temporaries of one step of the foreach implementations (Adam's and
# Adagrad's square root of their state); SGD updates in place.
STEP_TEMPORARIES: dict[str, int] = {"sgd": 0, "adam": 1, "adagrad": 1}
# Automatic budget (``cohort_memory_gb: null``): this fraction of what is free. CUDA keeps
# a margin for the caching allocator's fragmentation and cuDNN's workspaces; on the CPU,
# other jobs of the sweep (launcher=gpus without a GPU runs two) share the RAM.
AUTO_FRACTION_CUDA = 0.8
AUTO_FRACTION_CPU = 0.5
GIB = 2**30


@dataclass(frozen=True)
class MemberBytes:
    """One member's bytes on the device, by what holds them (`member_bytes`)."""

    parameters: int          # its weights (float32)
    state_copies: int        # optimiser state, in copies of the parameters
    step_copies: int         # parameter-sized temporaries of an optimiser step
    training: int            # activations of one training batch kept for backward, and their gradients
    validation: int          # activations alive in a no-grad forward of one evaluation batch
    pruning: int             # the same for one batch of the pruning pass
    data_fit: int            # training + validation split of one data seed
    data_prune: int          # validation + test split of one data seed
    eval_sample: int = 0     # `validation` and `pruning` per sample: they grow with the batch

    def fit_peak(self, members: int, data_seeds: int) -> int:
        """Peak bytes of training `members` members of `data_seeds` data seeds as one stack.

        Weights, gradients and state, plus the larger of an optimiser step's temporaries and
        the slice that drops a stopped member (old and new weights and state alive at once),
        plus one batch's activations (training or validation, never both), plus the data.
        """
        slice_copies = 1 + self.state_copies
        weights = self.parameters * (2 + self.state_copies + max(self.step_copies, slice_copies))
        per_member = weights + max(self.training, self.validation)
        return members * per_member + min(members, data_seeds) * self.data_fit

    def prune_peak(self, members: int, data_seeds: int) -> int:
        """Peak bytes of the pruning pass: the trained models, their pruned stacked copy, one
        evaluation batch's activations, and each data seed's validation and test split."""
        per_member = 2 * self.parameters + self.pruning
        return members * per_member + min(members, data_seeds) * self.data_prune

    def chunk_peak(self, members: int, data_seeds: int) -> int:
        """Peak bytes of a chunk of `members` members: the larger of training and pruning."""
        return max(self.fit_peak(members, data_seeds), self.prune_peak(members, data_seeds))

    def evaluation_batch(self, members: int, data_seeds: int, budget: int, batch: int,
                         planned: int) -> int:
        """The largest evaluation batch, at most `batch`, whose activations for `members`
        fit in what `budget` leaves beside the chunk (estimated at `planned` samples an
        evaluation batch); at least `planned`.

        Evaluation batches only group the samples of a forward pass, so this changes no
        accuracy and a loss only in its float summation order; it lets a wide model's
        cohort keep all its members in one chunk where configured batches (5,000 to 10,000
        samples for K members at once) would split it.
        """
        spare = budget - self.chunk_peak(members, data_seeds)
        extra = spare // (members * self.eval_sample) if spare > 0 and self.eval_sample else 0
        return int(min(batch, planned + extra))

    def levels_at_once(self, members: int, data_seeds: int, budget: int, batch: int,
                       levels: int) -> int:
        """The most pruning levels (at most `levels`, at least 1) one forward of `members`
        can evaluate within `budget` at `batch` samples a forward: L levels hold L more
        stacked copies of the weights beside the trained and the pruned ones, and L times
        the activations (`propensity.cohort.prune.walk_cohort`'s ``levels_at_once``)."""
        activations = batch * self.eval_sample if self.eval_sample else self.pruning
        base = members * (2 * self.parameters + activations)
        spare = budget - base - min(members, data_seeds) * self.data_prune
        if spare <= 0:
            return 1
        at_once = (spare // members + activations) // (self.parameters + activations)
        return int(max(1, min(levels, at_once)))


def optimizer_copies(name: str, momentum: float = 0.0) -> int:
    """Copies of the parameters an optimiser keeps as state (SGD: 1 with momentum, else 0);
    an optimiser not listed is taken to keep as many as the most of those listed."""
    if name == "sgd" and momentum > 0:
        return 1
    return OPTIMIZER_STATES.get(name, max(OPTIMIZER_STATES.values()))


def parameter_bytes(model: nn.Module) -> int:
    """Bytes of the model's parameters."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _saved(model: nn.Module, input_shape: Sequence[int], batch: int, classes: int) -> tuple[int, int]:
    """(total, largest) bytes autograd saves for backward in one training step of `batch`."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    x = torch.zeros(batch, *input_shape)
    y = torch.zeros(batch, dtype=torch.long)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y.clamp_max(classes - 1))
    del loss
    return sum(saved.values()), max(saved.values(), default=0)


def training_activation_bytes(model: nn.Module, input_shape: Sequence[int], batch_size: int) -> int:
    """Bytes of one training batch's activations: what autograd keeps for backward, plus
    the gradients of the two largest of them alive at once during backward.

    Measured with saved-tensor hooks on a copy of the single model (BatchNorm statistics
    of `model` stay untouched) at one and two samples; the bytes grow linearly in the batch.
    """
    probe = copy.deepcopy(model)
    classes = _classes(probe, input_shape)
    probe.train()
    (t1, l1), (t2, l2) = (_saved(probe, input_shape, b, classes) for b in (1, 2))
    total = t1 + (t2 - t1) * (batch_size - 1)
    largest = l1 + (l2 - l1) * (batch_size - 1)
    return total + 2 * largest


def evaluation_activation_bytes(model: nn.Module, input_shape: Sequence[int], batch_size: int) -> int:
    """Bytes alive in a no-grad forward of one evaluation batch of the stacked model.

    The stacked forward keeps a layer's input while it computes the layer's output and its
    ReLU (three activations of the largest layer), a residual block its shortcut as well
    (four); plus the batch itself, reshaped to the members' channels.
    """
    largest = 0

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        nonlocal largest
        largest = max(largest, output.numel() * output.element_size())

    probe = copy.deepcopy(model).eval()
    leaves = [m for m in probe.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    x = torch.zeros(1, *input_shape)
    with torch.no_grad():
        probe(x)
    for handle in handles:
        handle.remove()
    residual = any(type(m).__name__ == "ResidualBlock" for m in probe.modules())
    alive = 4 if residual else 3
    return batch_size * (alive * largest + x.numel() * x.element_size())


def _classes(model: nn.Module, input_shape: Sequence[int]) -> int:
    with torch.no_grad():
        return int(model.eval()(torch.zeros(1, *input_shape)).shape[-1])


def member_bytes(
    model: nn.Module,
    input_shape: Sequence[int],
    optimizer: str,
    batch_size: int,
    eval_batch_size: int,
    prune_batch_size: int,
    split_sizes: tuple[int, int, int],
    momentum: float = 0.0,
) -> MemberBytes:
    """One member's `MemberBytes` for the single model `model` (initialised; only copied).

    `split_sizes` are the samples of a data seed's (training, validation, test) splits,
    float32 inputs of `input_shape` with an int64 label each.
    """
    sample = 4 * math.prod(input_shape) + 8
    n_train, n_val, n_test = split_sizes
    eval_batch_size = min(eval_batch_size, n_val)
    prune_batch_size = min(prune_batch_size, max(n_val, n_test))
    return MemberBytes(
        parameters=parameter_bytes(model),
        state_copies=optimizer_copies(optimizer, momentum),
        step_copies=STEP_TEMPORARIES.get(optimizer, max(STEP_TEMPORARIES.values())),
        training=training_activation_bytes(model, input_shape, batch_size),
        validation=evaluation_activation_bytes(model, input_shape, eval_batch_size),
        pruning=evaluation_activation_bytes(model, input_shape, prune_batch_size),
        data_fit=(n_train + n_val) * sample,
        data_prune=(n_val + n_test) * sample,
        eval_sample=evaluation_activation_bytes(model, input_shape, 1),
    )


def available_ram(meminfo: Path = Path("/proc/meminfo")) -> int:
    """Bytes of RAM available to new work: ``MemAvailable`` of /proc/meminfo, else psutil's."""
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # reported in kB
    import psutil  # not on Linux: the one portable reader

    return int(psutil.virtual_memory().available)


def budget_bytes(device: torch.device, memory_gb: float | None = None) -> int:
    """Bytes a cohort may use on `device`: `memory_gb` GiB when set, else a stated fraction
    (`AUTO_FRACTION_CUDA`, `AUTO_FRACTION_CPU`) of what is free there now."""
    if memory_gb is not None:
        return int(memory_gb * GIB)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(AUTO_FRACTION_CUDA * free)
    return int(AUTO_FRACTION_CPU * available_ram())


def near_equal(members: int, chunks: int) -> list[int]:
    """`members` split into `chunks` sizes that differ by at most one, larger first."""
    base, extra = divmod(members, chunks)
    return [base + 1] * extra + [base] * (chunks - extra)


def chunk_sizes(members: int, bytes_of: Callable[[int], int], budget: int) -> list[int]:
    """The fewest near-equal chunks of `members` whose largest fits `budget` bytes.

    `bytes_of(c)` is a chunk of c members' peak (`MemberBytes.chunk_peak`). A member that does
    not fit alone still gets a chunk of its own: one member is the single run, the least
    a cohort can do.
    """
    if members < 1:
        raise ValueError(f"a cohort needs at least one member, not {members}")
    for chunks in range(1, members + 1):
        sizes = near_equal(members, chunks)
        if bytes_of(sizes[0]) <= budget:
            return sizes
    return [1] * members


__all__ = [
    "AUTO_FRACTION_CPU",
    "AUTO_FRACTION_CUDA",
    "MemberBytes",
    "available_ram",
    "budget_bytes",
    "chunk_sizes",
    "evaluation_activation_bytes",
    "member_bytes",
    "near_equal",
    "optimizer_copies",
    "parameter_bytes",
    "training_activation_bytes",
]
