"""Whether models stack, and stacking them: the hand-written stack of the paper's classes
(`propensity.cohort.stacked`), or for any other class the generic one
(`propensity.cohort.functional`), which refuses in one line a model it cannot reproduce
member by member. Every caller asks `stack_refusal` (or, before building a model,
`class_stack_refusal`), so the question has one answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from propensity.cohort.functional import FunctionalStack, stack_problem
from propensity.cohort.stacked import HAND_WRITTEN, StackedModel, hand_written


def stack_refusal(models: Sequence[nn.Module], input_shape: Sequence[int] | None = None) -> str | None:
    """Why `models` cannot train or walk as one stack, or None when they can: they must be of
    one class, either one of the paper's (hand-written) or one the generic stack reproduces
    member by member (probed on `input_shape` when given)."""
    if not models:
        return "there is no model to stack"
    if len({type(m) for m in models}) != 1:
        return "the models are of different classes"
    return None if hand_written(models[0]) else stack_problem(models[0], input_shape)


def class_stack_refusal(kind: type, probe: Callable[[], tuple[nn.Module, Sequence[int]]]) -> str | None:
    """`stack_refusal` of models of class `kind`, asked before any is built: the paper's
    classes stack by hand, with nothing to build; for any other class `probe` builds one
    model and gives its input shape, on which the generic stack is probed."""
    if kind in HAND_WRITTEN:
        return None
    model, input_shape = probe()
    return stack_refusal([model], input_shape)


def stackable(model: nn.Module) -> bool:
    """True when `stack` can stack models like `model`."""
    return stack_refusal([model]) is None


def stack(models: Sequence[nn.Module]) -> StackedModel:
    """The cohort of `models` (already initialised, of one class), each member's tensors
    copied bitwise."""
    if models and hand_written(models[0]):
        return StackedModel(models)
    return FunctionalStack(models)
