"""LeNet-300-100 (section 3.1)."""

from collections.abc import Sequence
from math import prod

import torch
from torch import nn

from propensity.models.width import scaled


class MLP(nn.Module):
    """Fully connected in -> 300w -> 100w -> classes with ReLU; the paper's 'MLP'.

    Input images of any shape are flattened, so the same class serves MNIST (784 inputs)
    and scikit-learn's digits (64 inputs).
    """

    def __init__(
        self, width: float = 1.0, input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10
    ) -> None:
        super().__init__()
        h1, h2 = scaled(300, width, "fc1"), scaled(100, width, "fc2")
        self.fc1 = nn.Linear(prod(input_shape), h1)
        self.fc2 = nn.Linear(h1, h2)
        self.proj = nn.Linear(h2, num_classes)

    def hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Post-ReLU activations of each hidden layer (section 5.3)."""
        a1 = torch.relu(self.fc1(x.flatten(1)))
        return [a1, torch.relu(self.fc2(a1))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.hidden(x)[-1])
