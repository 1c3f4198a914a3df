"""A 3D UNet denoiser for seismic patches, conditioned on the observed traces and their mask.

The network input is the noisy field ``x_t["volume"]`` ``[B, 1, D, H, W]`` concatenated along channels with
the context tensors named in ``condition_keys`` (by default ``observed`` and ``mask``, each ``[B, 1, D, H, W]``),
as in conditional diffusion for seismic interpolation (SeisFusion; Saharia et al., "Palette", 2022). The
diffusion time ``t`` ``[B]`` in ``[0, 1]`` enters every residual block through a sinusoidal embedding
(Vaswani et al. 2017, applied to ``1000 t``) and an MLP, added after the first convolution (Ho et al., DDPM,
2020). The UNet has ``len(channels)`` resolution levels, each with ``blocks_per_level`` residual blocks
(GroupNorm, SiLU, 3x3x3 convolutions), stride-2 convolutions down and nearest-neighbour upsampling plus a
convolution up, with skip connections by concatenation. The output ``{"volume": [B, 1, D, H, W]}`` is a raw
prediction; the core decides whether it means noise, clean data or velocity. ``D``, ``H`` and ``W`` must be
divisible by ``2 ** (len(channels) - 1)``.

With ``residual_key`` (e.g. ``"interpolated"``, a first guess of the clean volume) the output is
``context[residual_key] + UNet(...)`` and the last convolution starts at zero: with the ``x0`` parametrisation
the network then learns a correction of the first guess and, untrained, returns the guess itself (residual
learning, He et al. 2016, as in learned seismic interpolation that refines a classical one).
``zero_output=True`` starts the last convolution at zero without a residual (for a wrapper that adds its own
skip, such as :class:`preconditioning.GuessPreconditionedDenoiser`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from sciddm.errors import ConfigError


class SinusoidalTimeEmbedding(nn.Module):
    """``[sin(1000 t w_k), cos(1000 t w_k)]`` with ``w_k = 10000^(-k / (dim/2))``, ``k = 0 .. dim/2 - 1``."""

    def __init__(self, dim: int):
        super().__init__()
        if dim % 2:
            raise ConfigError(f"time embedding dimension must be even, got {dim}")
        self.register_buffer("frequencies", torch.exp(-math.log(10000.0) * torch.arange(dim // 2) / (dim // 2)))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = 1000.0 * t[:, None].float() * self.frequencies[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResidualBlock3d(nn.Module):
    """``x + conv(act(norm(conv(act(norm(x))) + emb)))`` with a 1x1x1 projection when channels change."""

    def __init__(self, in_channels: int, out_channels: int, embedding_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(math.gcd(groups, in_channels), in_channels)
        self.conv1 = nn.Conv3d(in_channels, out_channels, 3, padding=1)
        self.embedding = nn.Linear(embedding_dim, out_channels)
        self.norm2 = nn.GroupNorm(math.gcd(groups, out_channels), out_channels)
        self.conv2 = nn.Conv3d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Identity() if in_channels == out_channels else nn.Conv3d(in_channels, out_channels, 1)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.embedding(embedding)[:, :, None, None, None]
        h = self.conv2(self.act(self.norm2(h)))
        return self.skip(x) + h


class UNet3dDenoiser(nn.Module):
    """3D UNet ``forward(x_t, t, context) -> {field: raw prediction}`` (see the module docstring)."""

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128),
        blocks_per_level: int = 1,
        time_dim: int = 128,
        groups: int = 8,
        field: str = "volume",
        condition_keys: Sequence[str] = ("observed", "mask"),
        residual_key: str | None = None,
        zero_output: bool = False,
    ):
        super().__init__()
        if not channels or blocks_per_level < 1:
            raise ConfigError("UNet3dDenoiser needs at least one level and one block per level")
        self.field, self.condition_keys, self.residual_key = field, tuple(condition_keys), residual_key
        self.levels = len(channels)
        embedding_dim = 4 * time_dim
        self.time_embedding = nn.Sequential(SinusoidalTimeEmbedding(time_dim), nn.Linear(time_dim, embedding_dim),
                                            nn.SiLU(), nn.Linear(embedding_dim, embedding_dim))
        self.input = nn.Conv3d(1 + len(self.condition_keys), channels[0], 3, padding=1)
        block = lambda c_in, c_out: ResidualBlock3d(c_in, c_out, embedding_dim, groups)  # noqa: E731
        self.down_blocks, self.downsample = nn.ModuleList(), nn.ModuleList()
        for level, width in enumerate(channels):
            previous = channels[max(level - 1, 0)]
            self.down_blocks.append(nn.ModuleList(
                [block(previous if k == 0 else width, width) for k in range(blocks_per_level)]))
            if level < self.levels - 1:
                self.downsample.append(nn.Conv3d(width, width, 3, stride=2, padding=1))
        self.middle = block(channels[-1], channels[-1])
        self.up_blocks, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level in reversed(range(self.levels)):
            width = channels[level]
            below = channels[min(level + 1, self.levels - 1)]
            self.up_blocks.append(nn.ModuleList(
                [block((below if k == 0 else width) + width, width) for k in range(blocks_per_level)]))
            if level > 0:
                self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                                   nn.Conv3d(width, width, 3, padding=1)))
        self.output = nn.Sequential(nn.GroupNorm(math.gcd(groups, channels[0]), channels[0]), nn.SiLU(),
                                    nn.Conv3d(channels[0], 1, 3, padding=1))
        if residual_key is not None or zero_output:
            nn.init.zeros_(self.output[-1].weight)
            nn.init.zeros_(self.output[-1].bias)

    def forward(self, x_t: dict[str, torch.Tensor], t: torch.Tensor,
                context: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        volume = x_t[self.field]
        factor = 2 ** (self.levels - 1)
        if any(size % factor for size in volume.shape[2:]):
            raise ConfigError(f"patch sizes {tuple(volume.shape[2:])} must be divisible by {factor} "
                              f"for a UNet with {self.levels} levels")
        embedding = self.time_embedding(t)
        h = self.input(torch.cat([volume, *(context[key].to(volume.dtype) for key in self.condition_keys)], 1))
        skips = []
        for level, blocks in enumerate(self.down_blocks):
            for layer in blocks:
                h = layer(h, embedding)
                skips.append(h)
            if level < self.levels - 1:
                h = self.downsample[level](h)
        h = self.middle(h, embedding)
        for level, blocks in enumerate(self.up_blocks):
            for layer in blocks:
                h = layer(torch.cat([h, skips.pop()], dim=1), embedding)
            if level < self.levels - 1:
                h = self.upsample[level](h)
        output = self.output(h)
        if self.residual_key is not None:
            output = output + context[self.residual_key].to(output.dtype)
        return {self.field: output}
