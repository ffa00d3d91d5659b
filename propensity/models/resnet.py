"""The small residual network of section 3.1."""

from collections.abc import Sequence

import torch
from torch import nn

from propensity.models.width import scaled


class ResidualBlock(nn.Module):
    """conv-BN-ReLU-conv-BN, identity shortcut, ReLU; channels and resolution unchanged."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + x)


class ResNet(nn.Module):
    """First convolution + BN + ReLU, three residual blocks, average pool, dense to classes.

    Every convolution has 16w filters. Convolutions feeding BatchNorm carry no bias, as BN's
    shift makes one redundant.
    """

    def __init__(
        self, width: float = 1.0, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10
    ) -> None:
        super().__init__()
        c = scaled(16, width, "conv")
        self.stem = nn.Conv2d(input_shape[0], c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.blocks = nn.ModuleList(ResidualBlock(c) for _ in range(3))
        self.proj = nn.Linear(c, num_classes)

    def hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Post-ReLU activations after the stem and after each block (section 5.3)."""
        out = [torch.relu(self.bn(self.stem(x)))]
        for block in self.blocks:
            out.append(block(out[-1]))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.hidden(x)[-1].mean(dim=(2, 3)))
