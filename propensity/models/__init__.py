"""The paper's three architectures (section 3.1) and a fourth family (a small ViT), each
scaled by a width factor."""

from propensity.models.conv2 import Conv2
from propensity.models.init import initialize
from propensity.models.mlp import MLP
from propensity.models.resnet import ResNet
from propensity.models.vit import ViT

__all__ = ["MLP", "Conv2", "ResNet", "ViT", "initialize"]
