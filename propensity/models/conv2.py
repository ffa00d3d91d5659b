"""Conv-2, the small VGG variant of Frankle & Carbin (section 3.1)."""

from collections.abc import Sequence

import torch
from torch import nn

from propensity.models.width import scaled


class Conv2(nn.Module):
    """Two 3x3 convolutions of 64w filters (same padding), 2x2 max-pool, dense 256w, 256w, classes.

    At width 1 on CIFAR-10 this has 4,300,992 prunable weights (Frankle & Carbin's 4.3M).
    """

    def __init__(
        self, width: float = 1.0, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10
    ) -> None:
        super().__init__()
        channels, height, width_px = input_shape
        c, d = scaled(64, width, "conv1"), scaled(256, width, "fc1")
        self.conv1 = nn.Conv2d(channels, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(c * (height // 2) * (width_px // 2), d)
        self.fc2 = nn.Linear(d, d)
        self.proj = nn.Linear(d, num_classes)

    def hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Post-ReLU activations of each hidden layer (section 5.3)."""
        a1 = torch.relu(self.conv1(x))
        a2 = torch.relu(self.conv2(a1))
        a3 = torch.relu(self.fc1(self.pool(a2).flatten(1)))
        return [a1, a2, a3, torch.relu(self.fc2(a3))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.hidden(x)[-1])
