"""The paper's three architectures (section 3.1), each scaled by a width factor."""

from propensity.models.conv2 import Conv2
from propensity.models.init import initialize
from propensity.models.mlp import MLP
from propensity.models.resnet import ResNet

__all__ = ["MLP", "Conv2", "ResNet", "initialize"]
