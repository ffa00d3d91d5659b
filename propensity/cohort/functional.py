"""The generic stack: a cohort of any model class, without a hand-written stacked version.

The paper's grid (section 3.1) repeats every configuration over seeds, and so does a grid of
a researcher's own model; its members differ only in their seeds, so they can train as one
stack whatever the model is. `FunctionalStack` keeps each parameter and buffer of the single
model as one ``K x ...`` tensor under the same names as the hand-written
`propensity.cohort.stacked.StackedModel` (so fitting, slicing out stopped members, resuming
and the batched pruning walk read it alike) and runs the single model's own ``forward`` once
per member: ``torch.func.functional_call`` on a template of the model under
``torch.func.vmap`` over the member dimension. Nothing mixes members, so member k computes
what its single model computes, up to the summation order of the batched kernels ``vmap``
chooses. BatchNorm in training mode is handled: its running statistics are batched buffers,
updated per member in place.

What ``vmap`` cannot reproduce member by member is refused, in one line naming the module,
before anything trains (`stack_problem`): a module that draws random numbers in its forward
(dropout: each single run draws its masks from the global generator, in its own order), or a
forward that does not run under ``vmap`` at all (data-dependent Python control flow, ``.item()``,
in-place writes to tensors that are not the model's parameters or buffers). Such runs train
one by one (``cohort=1``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, vmap

from propensity.cohort.stacked import StackedModel

__all__ = ["RANDOM_MODULES", "FunctionalStack", "stack_problem"]

# Modules whose training-mode forward draws random numbers.
RANDOM_MODULES: tuple[type[nn.Module], ...] = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
)


class FunctionalStack(StackedModel):
    """K single models of one (any) class as one stack; ``forward`` maps ``K x B x ...`` to
    ``K x B x classes`` by the single model's own forward, vmapped over the members."""

    def __init__(self, models: Sequence[nn.Module]) -> None:
        super().__init__(models)
        problem = _module_problem(models[0])
        if problem is not None:
            raise ValueError(f"cannot stack {self.kind.__name__}: {problem}")
        # A private copy: its own tensors are never read (every parameter and buffer is passed
        # in), and switching its mode leaves the members' single models alone.
        self.__dict__["template"] = copy.deepcopy(models[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.template.train(self.training)
        params = {name: self.tensor(name) for name in self.names}
        buffers = {name: self.tensor(name) for name in self.buffer_names}
        template = self.template

        def member(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xk: torch.Tensor) -> torch.Tensor:
            return functional_call(template, (p, b), (xk,))

        if self.members > 1 and x.stride(0) == 0:  # one split for all members: passed once
            return vmap(member, in_dims=(0, 0, None))(params, buffers, x[0])
        return vmap(member)(params, buffers, x)


def _module_problem(model: nn.Module) -> str | None:
    for name, module in model.named_modules():
        if isinstance(module, RANDOM_MODULES) and float(getattr(module, "p", 0.0)) > 0:
            return (f"module '{name}' ({type(module).__name__}, p={module.p:g}) draws random "
                    "numbers, which a cohort cannot draw as each single run draws them")
    return None


def stack_problem(model: nn.Module, input_shape: Sequence[int] | None = None) -> str | None:
    """Why models like `model` cannot train as a generic stack, in one phrase naming the
    module; None when they can.

    With `input_shape`, a two-member stack of copies of `model` also takes one training step
    (forward and backward on two zero inputs) and one evaluation forward, on its device, so a
    forward that fails under ``vmap`` is found before any training; the module named is the
    innermost one whose forward was running.
    """
    problem = _module_problem(model)
    if problem is not None or input_shape is None:
        return problem
    probe = FunctionalStack([model, model])
    running: list[str] = []
    names = {module: name for name, module in probe.template.named_modules()}

    def enter(module: nn.Module, args: object) -> None:
        running.append(names[module])

    def leave(module: nn.Module, args: object, output: object) -> None:
        running.pop()

    handles = [h for m in names for h in (m.register_forward_pre_hook(enter), m.register_forward_hook(leave))]
    first = next((p for p in model.parameters() if p.is_floating_point()), None)
    x = torch.zeros(2, 2, *input_shape, dtype=first.dtype if first is not None else torch.float32,
                    device=first.device if first is not None else "cpu")
    try:
        probe.train()
        probe(x).float().sum().backward()
        probe.eval()
        with torch.no_grad():
            probe(x)
    except Exception as error:  # whatever vmap refuses, reported as the reason
        where = next((n for n in reversed(running) if n), None)
        module = f"module '{where}' ({type(probe.template.get_submodule(where)).__name__})" \
            if where else f"{type(model).__name__}.forward"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"{module} does not run once per member under torch.func.vmap ({reason})"
    finally:
        for handle in handles:
            handle.remove()
    return None
