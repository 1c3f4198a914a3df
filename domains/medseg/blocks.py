"""UNet building blocks shared by the diffusion denoisers and the plain segmentation baseline (2D or 3D).

The backbone follows the DDPM UNet (Ho et al. 2020) in small: residual blocks with GroupNorm and SiLU, the
diffusion time injected into every block as a per-channel scale and shift (FiLM), stride-2 convolutions down,
nearest-neighbour upsampling plus a convolution up, skip connections concatenated. Inputs of any size are
zero-padded to a multiple of ``2 ** (levels - 1)`` and the output cropped back.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from sciddm.errors import ConfigError


def conv(spatial_dims: int, in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> nn.Module:
    """A 2D or 3D convolution with 'same' padding for stride 1."""
    if spatial_dims not in (2, 3):
        raise ConfigError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    layer = nn.Conv2d if spatial_dims == 2 else nn.Conv3d
    return layer(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2)


def norm(channels: int, groups: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count dividing ``channels`` that is at most ``groups``."""
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class SinusoidalTimeEmbedding(nn.Module):
    """``t`` in [0, 1] -> [sin(s t w_k), cos(s t w_k)], ``w_k = max_period^(-k / (dim/2))``, then a 2-layer MLP."""

    def __init__(self, dim: int = 128, scale: float = 1000.0, max_period: float = 10000.0):
        super().__init__()
        self.scale = scale
        self.register_buffer("frequencies", max_period ** (-torch.arange(dim // 2) / (dim // 2)), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(2 * (dim // 2), dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = self.scale * t.float()[:, None] * self.frequencies[None]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))


class ResBlock(nn.Module):
    """``x + f(x)`` with ``f`` = norm, SiLU, conv, FiLM from the time embedding (if any), norm, SiLU, conv."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, time_dim: int | None, groups: int):
        super().__init__()
        self.spatial_dims = spatial_dims
        self.first = nn.Sequential(norm(in_channels, groups), nn.SiLU(), conv(spatial_dims, in_channels, out_channels))
        self.film = None if time_dim is None else nn.Linear(time_dim, 2 * out_channels)
        self.second = nn.Sequential(norm(out_channels, groups), nn.SiLU(), conv(spatial_dims, out_channels,
                                                                                  out_channels))
        self.skip = (nn.Identity() if in_channels == out_channels
                     else conv(spatial_dims, in_channels, out_channels, kernel=1))

    def forward(self, x: torch.Tensor, time: torch.Tensor | None = None) -> torch.Tensor:
        h = self.first(x)
        if self.film is not None:
            scale, shift = self.film(time).reshape(len(x), -1, *([1] * self.spatial_dims)).chunk(2, dim=1)
            h = h * (1 + scale) + shift
        return self.skip(x) + self.second(h)


class UNetBackbone(nn.Module):
    """Encoder-decoder with skips: ``in_channels`` -> ``out_channels`` at the input resolution.

    Level ``k`` has ``base_channels * channel_mults[k]`` channels and ``blocks_per_level`` residual blocks;
    ``time_dim=None`` builds the time-free variant used by the plain baseline.
    """

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, base_channels: int = 16,
                 channel_mults: tuple[int, ...] = (1, 2, 2), blocks_per_level: int = 1, time_dim: int | None = None,
                 groups: int = 8):
        super().__init__()
        widths = [base_channels * m for m in channel_mults]
        self.spatial_dims, self.levels = spatial_dims, len(widths)
        self.stem = conv(spatial_dims, in_channels, widths[0])
        self.down_blocks, self.downsamples = nn.ModuleList(), nn.ModuleList()
        channels = widths[0]
        for k, width in enumerate(widths):
            self.down_blocks.append(nn.ModuleList(
                ResBlock(spatial_dims, channels if b == 0 else width, width, time_dim, groups)
                for b in range(blocks_per_level)))
            channels = width
            if k < len(widths) - 1:
                self.downsamples.append(conv(spatial_dims, width, width, stride=2))
        self.middle = ResBlock(spatial_dims, channels, channels, time_dim, groups)
        self.up_blocks, self.upsamples = nn.ModuleList(), nn.ModuleList()
        for k in reversed(range(len(widths))):
            self.up_blocks.append(ResBlock(spatial_dims, channels + widths[k], widths[k], time_dim, groups))
            channels = widths[k]
            if k > 0:
                self.upsamples.append(conv(spatial_dims, channels, widths[k - 1]))
                channels = widths[k - 1]
        self.head = nn.Sequential(norm(channels, groups), nn.SiLU(), conv(spatial_dims, channels, out_channels))

    def forward(self, x: torch.Tensor, time: torch.Tensor | None = None) -> torch.Tensor:
        size = x.shape[2:]
        multiple = 2 ** (self.levels - 1)
        padding = [p for s in reversed(size) for p in (0, (-s) % multiple)]
        h = self.stem(F.pad(x, padding))
        skips = []
        for k, blocks in enumerate(self.down_blocks):
            for block in blocks:
                h = block(h, time)
            skips.append(h)
            if k < len(self.downsamples):
                h = self.downsamples[k](h)
        h = self.middle(h, time)
        for k, block in enumerate(self.up_blocks):
            h = block(torch.cat([h, skips.pop()], dim=1), time)
            if k < len(self.upsamples):
                h = self.upsamples[k](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.head(h)[(slice(None), slice(None)) + tuple(slice(0, s) for s in size)]
