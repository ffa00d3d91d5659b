"""Whether models stack has one answer (`propensity.cohort.stacking`), whether it is asked of
built models or of a model class before any is built."""

from __future__ import annotations

from torch import nn

from propensity.cohort import class_stack_refusal, stack_refusal
from propensity.models import MLP
from tests.cohort.test_functional import SHAPE, DropNet, ItemNet, TanhNet


def test_models_of_two_classes_or_none_do_not_stack() -> None:
    assert stack_refusal([]) == "there is no model to stack"
    assert stack_refusal([TanhNet(), MLP(0.1, SHAPE, 10)]) == "the models are of different classes"


def test_a_class_is_answered_as_its_models_are() -> None:
    built: list[nn.Module] = []

    def probe(kind: type[nn.Module]):
        def build() -> tuple[nn.Module, tuple[int, ...]]:
            built.append(kind())
            return built[-1], SHAPE
        return build

    assert class_stack_refusal(MLP, probe(TanhNet)) is None and not built  # hand-written: nothing built
    for kind in (TanhNet, DropNet, ItemNet):
        assert class_stack_refusal(kind, probe(kind)) == stack_refusal([kind()], SHAPE)
    assert class_stack_refusal(DropNet, probe(DropNet)) is not None
    assert class_stack_refusal(ItemNet, probe(ItemNet)) is not None
    assert len(built) == 5
