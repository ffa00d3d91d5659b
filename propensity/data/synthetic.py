"""Random tensors with real shapes and learnable labels, for tests."""

from collections.abc import Sequence
from math import prod

import torch

from propensity.data.base import DEFAULT_EVAL_BATCH, TensorDataModule


class SyntheticDataModule(TensorDataModule):
    """Standard-normal inputs of ``input_shape`` labelled by a fixed random linear teacher.

    The label of ``x`` is ``argmax(W x + b)`` for a ``W, b`` drawn once from
    ``teacher_seed``, so a model can learn the task and a test can watch the loss fall.
    The inputs and teacher depend on ``teacher_seed`` only; ``data_seed`` decides the
    validation split as for the real datasets. ``train_size`` counts the training set
    before ``val_size`` is split off.
    """

    name = "synthetic"

    def __init__(
        self,
        *,
        input_shape: Sequence[int] = (1, 8, 8),
        num_classes: int = 10,
        train_size: int = 512,
        test_size: int = 128,
        batch_size: int = 64,
        val_size: int = 128,
        data_seed: int = 0,
        batch_seed: int = 0,
        eval_batch_size: int = DEFAULT_EVAL_BATCH,
        whole_epoch: bool = False,
        teacher_seed: int = 0,
    ) -> None:
        super().__init__(batch_size, val_size, data_seed, batch_seed, eval_batch_size, whole_epoch)
        if num_classes < 2:
            raise ValueError(f"data.num_classes={num_classes} must be at least 2")
        if test_size < 1:
            raise ValueError(f"data.test_size={test_size} must be at least 1")
        self.input_shape = tuple(int(d) for d in input_shape)
        self.num_classes = num_classes
        self.train_size = train_size
        self.test_size = test_size
        self.teacher_seed = teacher_seed
        self._check_val_size(train_size)

    def load(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Draw inputs and teacher from ``teacher_seed``; label by the teacher."""
        g = torch.Generator().manual_seed(self.teacher_seed)
        features = prod(self.input_shape)
        weight = torch.randn(features, self.num_classes, generator=g)
        bias = torch.randn(self.num_classes, generator=g)
        x = torch.randn(self.train_size + self.test_size, *self.input_shape, generator=g)
        y = (x.flatten(1) @ weight + bias).argmax(1)
        n = self.train_size
        return x[:n], y[:n], x[n:], y[n:]
