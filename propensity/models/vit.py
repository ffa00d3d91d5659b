"""A small Vision Transformer: a fourth architecture family, beyond the paper (section 6).

The paper closes asking whether its results "generalize to other architectures and tasks";
a transformer is the family furthest from its MLP, Conv-2 and ResNet. This one follows
Dosovitskiy et al. (2021) at the size of the paper's models: a patch embedding (one
convolution of stride ``patch_size``), a learned class token, fixed 2-D sine-cosine position
embeddings (as in MAE; a buffer, so every initial weight is drawn by `initialize` from the
init seed alone), ``depth`` pre-norm blocks (``x + attn(LN(x))``, ``x + mlp(LN(x))``, GELU), and
a classification head on the normalised class token.

Width rule: the head dimension is fixed at ``HEAD_DIM`` = 16 and the width factor scales the
number of heads, ``heads = max(1, int(4 * width))``; the embedding dimension is
``16 * heads`` (64 at width 1) and the MLP's hidden dimension ``MLP_RATIO`` = 4 times that.
Attention is written out with Linear layers (query-key-value and output projections), so
every matrix of the model is a Linear or Conv weight that pruning covers and counts (Table 1's
sense); LayerNorm, biases, the class token and the position embeddings are not weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

HEAD_DIM = 16
HEADS_AT_WIDTH_1 = 4
MLP_RATIO = 4


def vit_dims(width: float) -> tuple[int, int, int]:
    """``(heads, embedding dim, MLP dim)`` at `width` under the head rule (module docstring)."""
    if not width > 0:
        raise ValueError(f"width={width} must be > 0 (e.g. width=0.1 or width=2)")
    heads = max(1, int(HEADS_AT_WIDTH_1 * width))
    dim = HEAD_DIM * heads
    return heads, dim, MLP_RATIO * dim


def sincos_position_embedding(rows: int, cols: int, dim: int) -> torch.Tensor:
    """``rows * cols x dim`` fixed 2-D sine-cosine embeddings (half the channels per axis)."""
    quarter = max(1, dim // 4)
    omega = 1.0 / (10_000 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    y, x = torch.meshgrid(torch.arange(rows, dtype=torch.float64), torch.arange(cols, dtype=torch.float64),
                          indexing="ij")
    parts = [f(axis.flatten()[:, None] * omega[None]) for axis in (y, x) for f in (torch.sin, torch.cos)]
    table = torch.cat(parts, dim=1)
    return F.pad(table, (0, dim - table.shape[1]))[:, :dim].to(torch.float32)


class Attention(nn.Module):
    """Multi-head self-attention, softmax(q k^T / sqrt(d)) v, from two Linear layers."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d // self.heads), dim=-1)
        return self.proj((weights @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """A pre-norm transformer block: attention, then a GELU MLP, each around a residual."""

    def __init__(self, dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, mlp_dim)
        self.fc2 = nn.Linear(mlp_dim, dim)

    def mlp_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The MLP's post-GELU activations (``B x tokens x mlp_dim``), after attention."""
        return F.gelu(self.fc1(self.norm2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(self.mlp_hidden(x))


class ViT(nn.Module):
    """Patch embedding, class token, `depth` pre-norm blocks, LayerNorm, dense head to classes.

    ``patch_size`` must divide the image's height and width (4: MNIST's 28 x 28 gives 49
    patches, CIFAR-10's 32 x 32 gives 64, the 8 x 8 digits 4). Weights per width on the paper's
    inputs are in docs/models-and-data.md.
    """

    def __init__(
        self,
        width: float = 1.0,
        input_shape: Sequence[int] = (3, 32, 32),
        num_classes: int = 10,
        patch_size: int = 4,
        depth: int = 4,
    ) -> None:
        super().__init__()
        channels, height, width_px = input_shape
        if patch_size < 1 or height % patch_size or width_px % patch_size:
            raise ValueError(f"model.patch_size={patch_size} does not divide the {height} x {width_px} "
                             f"images; use a divisor of both, e.g. model.patch_size=4 (28 or 32 pixels)")
        if depth < 1:
            raise ValueError(f"model.depth={depth} must be at least 1, e.g. model.depth=4")
        heads, dim, mlp_dim = vit_dims(width)
        rows, cols = height // patch_size, width_px // patch_size
        self.patch = nn.Conv2d(channels, dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("position", sincos_position_embedding(rows, cols, dim).unsqueeze(0))
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, num_classes)
        self.hidden_names = [f"blocks.{i}.mlp" for i in range(depth)]

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The class token and the position-embedded patches, ``B x (1 + patches) x dim``."""
        patches = self.patch(x).flatten(2).transpose(1, 2) + self.position
        return torch.cat([self.cls_token.expand(len(x), -1, -1), patches], dim=1)

    def hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per block, its MLP's post-GELU activations averaged over tokens (``B x mlp_dim``), the
        transformer's analogue of a convolutional unit averaged over positions (section 5.3)."""
        h, out = self.tokens(x), []
        for block in self.blocks:
            h = h + block.attn(block.norm1(h))
            a = block.mlp_hidden(h)
            out.append(a.mean(dim=1))
            h = h + block.fc2(a)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.tokens(x)
        for block in self.blocks:
            h = block(h)
        return self.proj(self.norm(h[:, 0]))
