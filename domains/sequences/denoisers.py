"""A bidirectional transformer denoiser for categorical sequence fields.

Contract (see the core's DiffusionModule): ``forward(x_t, t, context) -> {field: logits}`` where
``x_t[field]`` is the noisy one-hot or probability tensor [B, L, K] (K may include a mask token), ``t`` [B]
is the diffusion time in [0, 1] and the output holds raw logits [B, L, K]; the core decides what they mean.

Architecture (a small DiT-style encoder as in MDLM, Sahoo et al. 2024): a linear embedding of the K-way
input plus a learned position embedding; ``depth`` pre-norm blocks of full (non-causal) self-attention and
an MLP, each modulated by the conditioning vector ``c`` through adaptive layer norm with zero-initialised
gates (adaLN-Zero, Peebles & Xie 2023), so every block starts as the identity; a modulated final norm and a
zero-initialised linear head, so an untrained network predicts uniform logits.

Conditioning: ``c = MLP(sinusoidal(time_scale * t))`` plus, when ``num_classes > 0``, a class embedding
of ``context["label"]``. The extra index ``num_classes`` is the *null label* used for classifier-free
guidance; a missing label, or a label of -1, means null; during training each label is replaced by the
null label with probability ``label_drop_prob``. ``context["mask"]`` [B, L] (True on real tokens), when
present, keeps attention off padding, so outputs at real positions never depend on padded positions.

With ``self_conditioning=True`` (Chen et al. 2022, "Analog Bits", as used for discrete sequences by CDCD and
Plaid; :mod:`sciddm.self_conditioning`) the network also reads its previous estimate of the clean sequence, the
class probabilities of the last evaluation over the data classes (zeros at the first). With a mask token the data
classes are one fewer than the K input states and the estimate is zero-padded to K (the mask state has no clean
probability); the input embedding becomes ``Linear([x_t, x0_prev])`` of the concatenated 2K channels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciddm.self_conditioning import previous_estimate


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """``[cos(t w_i), sin(t w_i)]`` with ``w_i = max_period ** (-i / (dim / 2))``, shape [B, dim] (dim even)."""
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = t.float()[:, None] * frequencies[None, :]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale[:, None, :]) + shift[:, None, :]


class AdaLNBlock(nn.Module):
    """Pre-norm self-attention + MLP block with adaLN-Zero modulation by a conditioning vector."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))
        self.dropout = nn.Dropout(dropout)
        self.modulation = nn.Linear(width, 6 * width)
        nn.init.zeros_(self.modulation.weight)
        nn.init.zeros_(self.modulation.bias)

    def forward(self, h: Tensor, c: Tensor, attend: Tensor | None) -> Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(F.silu(c)).chunk(6, dim=-1)
        batch, length, width = h.shape
        q, k, v = self.qkv(modulate(self.norm1(h), shift1, scale1)).chunk(3, dim=-1)
        q, k, v = (z.view(batch, length, self.heads, -1).transpose(1, 2) for z in (q, k, v))
        attention = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
        attention = self.out(attention.transpose(1, 2).reshape(batch, length, width))
        h = h + gate1[:, None, :] * self.dropout(attention)
        update = self.mlp(modulate(self.norm2(h), shift2, scale2))
        return h + gate2[:, None, :] * self.dropout(update)


class SequenceTransformer(nn.Module):
    """Bidirectional transformer denoiser ``{field: [B, L, K]} -> {field: logits [B, L, K]}``."""

    def __init__(
        self,
        vocab_size: int = 5,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        max_length: int = 1024,
        num_classes: int = 0,
        label_drop_prob: float = 0.0,
        dropout: float = 0.0,
        time_scale: float = 1000.0,
        field: str = "seq",
        self_conditioning: bool = False,
    ):
        super().__init__()
        if width % heads or width % 2:
            raise ValueError(f"width {width} must be even and divisible by heads {heads}")
        self.field, self.width, self.time_scale = field, width, time_scale
        self.num_classes, self.label_drop_prob = num_classes, label_drop_prob
        self.self_conditioning = self_conditioning
        self.embed = nn.Linear(vocab_size * (2 if self_conditioning else 1), width)
        self.position = nn.Parameter(torch.randn(max_length, width) * 0.02)
        self.time_mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.label_embedding = nn.Embedding(num_classes + 1, width) if num_classes > 0 else None
        self.blocks = nn.ModuleList(AdaLNBlock(width, heads, mlp_ratio, dropout) for _ in range(depth))
        self.final_norm = nn.LayerNorm(width, elementwise_affine=False)
        self.final_modulation = nn.Linear(width, 2 * width)
        self.head = nn.Linear(width, vocab_size)
        for layer in (self.final_modulation, self.head):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        x = x_t[self.field]
        if self.self_conditioning:
            estimate = previous_estimate(context, self.field, x.shape, x)
            x = torch.cat([x, F.pad(estimate, (0, x.shape[-1] - estimate.shape[-1]))], dim=-1)
        h = self.embed(x) + self.position[: x.shape[1]]
        c = self.time_mlp(sinusoidal_embedding(self.time_scale * t, self.width))
        if self.label_embedding is not None:
            c = c + self.label_embedding(self._labels(context, len(x), x.device))
        mask = context.get("mask")
        attend = None if mask is None else mask[:, None, None, :]  # [B, 1, 1, L]: keys a query may see
        for block in self.blocks:
            h = block(h, c, attend)
        shift, scale = self.final_modulation(F.silu(c)).chunk(2, dim=-1)
        return {self.field: self.head(modulate(self.final_norm(h), shift, scale))}

    def _labels(self, context: dict[str, Tensor], batch: int, device: torch.device) -> Tensor:
        """Class indices with the null label ``num_classes`` for missing, -1 or dropped labels."""
        null = torch.full((batch,), self.num_classes, dtype=torch.long, device=device)
        if "label" not in context:
            return null
        labels = context["label"].long()
        labels = torch.where(labels < 0, null, labels)
        if self.training and self.label_drop_prob > 0:
            labels = torch.where(torch.rand(batch, device=device) < self.label_drop_prob, null, labels)
        return labels
