"""Small network building blocks shared by denoisers."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class SinusoidalTimeEmbedding(nn.Module):
    r"""Embed diffusion time :math:`t\in[0,1]` as :math:`[\sin(\omega_k s t), \cos(\omega_k s t)]` with
    geometric frequencies :math:`\omega_k = 10000^{-k/(d/2)}` and scale ``s = 1000`` (Vaswani et al.; DDPM),
    followed by a two-layer MLP."""

    def __init__(self, dim: int, scale: float = 1000.0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"time embedding dimension must be even, got {dim}")
        half = dim // 2
        self.register_buffer("frequencies", torch.exp(-math.log(10000.0) * torch.arange(half) / half),
                             persistent=False)
        self.scale = scale
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        angles = self.scale * t.float()[:, None] * self.frequencies[None, :]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=-1))
