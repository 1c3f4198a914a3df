"""A 2D convolutional denoiser over the trace grid, with the time samples as channels.

A volume ``[B, 1, n_il, n_xl, n_t]`` is read as a 2D image over the ``(inline, crossline)`` grid whose pixels
are whole traces: ``n_t`` channels per condition. The input stacks the noisy field, each volume-shaped context
tensor of ``volume_keys`` (e.g. ``observed``, ``interpolated``: ``n_t`` channels each) and each trace-mask
tensor of ``trace_keys`` (e.g. ``mask``, constant along time: one channel, its first sample), so the first
layer sees ``n_t (1 + len(volume_keys)) + len(trace_keys)`` channels. Then

    h_0 = W_in x,      h_{k+1} = h_k + W_k^b act(conv3x3_{d_k}(h_k) + E_k emb(t)),      F = W_out act(h_L),

with 1x1 convolutions ``W_in``, ``W_k^b``, ``W_out``, 3x3 convolutions of dilation ``d_k`` (``dilations``),
zero padding, GELU activations, no normalisation layers (the network sees absolute amplitudes) and the
sinusoidal time embedding of :mod:`denoisers` projected per block. The receptive field over the trace grid is
``1 + 2 sum_k d_k`` traces per side-to-side span, i.e. a missing trace's estimate depends on traces at most
``sum_k d_k`` grid steps away along each axis; along time it is global (every sample of every trace in that
window enters through the channels), which lets one layer move a reflector up or down between neighbouring
traces (a dip). Every operation is a convolution over the grid, so the network commutes with shifts of the
grid away from the borders. ``W_out`` starts small (std ``output_init``), not at zero, so the gradient reaches
every earlier layer from the first step. The output ``{field: [B, 1, n_il, n_xl, n_t]}`` is a raw prediction
(the wrapper, e.g. :class:`preconditioning.GuessPreconditionedDenoiser`, gives it a meaning); ``n_t`` must
equal ``samples``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from domains.seismic.denoisers import SinusoidalTimeEmbedding
from sciddm.errors import ConfigError


def _as_channels(volume: torch.Tensor) -> torch.Tensor:
    """``[B, 1, H, W, T] -> [B, T, H, W]``."""
    return volume[:, 0].permute(0, 3, 1, 2)


class TraceGridBlock(nn.Module):
    """``h + W_b act(conv3x3_d(h) + E emb)`` (see the module docstring)."""

    def __init__(self, channels: int, dilation: int, embedding_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.embedding = nn.Linear(embedding_dim, channels)
        self.mix = nn.Conv2d(channels, channels, 1)
        self.act = nn.GELU()

    def forward(self, h: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        return h + self.mix(self.act(self.conv(h) + self.embedding(embedding)[:, :, None, None]))


class TraceGridDenoiser(nn.Module):
    """``forward(x_t, t, context) -> {field: raw prediction}`` (see the module docstring)."""

    def __init__(self, samples: int, channels: int = 96, dilations: Sequence[int] = (1, 2, 4, 1, 2, 4, 1),
                 time_dim: int = 32, field: str = "volume",
                 volume_keys: Sequence[str] = ("observed", "interpolated"), trace_keys: Sequence[str] = ("mask",),
                 output_init: float = 1e-3):
        super().__init__()
        if samples < 1 or channels < 1 or any(d < 1 for d in dilations):
            raise ConfigError("TraceGridDenoiser needs samples >= 1, channels >= 1 and positive dilations")
        self.samples, self.field = samples, field
        self.volume_keys, self.trace_keys = tuple(volume_keys), tuple(trace_keys)
        self.dilations = tuple(dilations)
        embedding_dim = 4 * time_dim
        self.time_embedding = nn.Sequential(SinusoidalTimeEmbedding(time_dim), nn.Linear(time_dim, embedding_dim),
                                            nn.GELU(), nn.Linear(embedding_dim, embedding_dim))
        self.input = nn.Conv2d(samples * (1 + len(self.volume_keys)) + len(self.trace_keys), channels, 1)
        self.blocks = nn.ModuleList(TraceGridBlock(channels, d, embedding_dim) for d in self.dilations)
        self.output = nn.Sequential(nn.GELU(), nn.Conv2d(channels, samples, 1))
        nn.init.normal_(self.output[-1].weight, std=output_init)
        nn.init.zeros_(self.output[-1].bias)

    @property
    def condition_keys(self) -> tuple[str, ...]:
        return self.volume_keys + self.trace_keys

    @property
    def reach(self) -> int:
        """Grid steps from a trace to the farthest trace its output depends on, along either axis."""
        return sum(self.dilations)

    def forward(self, x_t: dict[str, torch.Tensor], t: torch.Tensor,
                context: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        volume = x_t[self.field]
        if volume.shape[-1] != self.samples:
            raise ConfigError(f"TraceGridDenoiser was built for {self.samples} time samples per trace, "
                              f"got a volume of shape {tuple(volume.shape[2:])}")
        inputs = [_as_channels(volume), *(_as_channels(context[key].to(volume.dtype)) for key in self.volume_keys),
                  *(_as_channels(context[key][..., :1].to(volume.dtype)) for key in self.trace_keys)]
        h = self.input(torch.cat(inputs, dim=1))
        embedding = self.time_embedding(t)
        for block in self.blocks:
            h = block(h, embedding)
        return {self.field: self.output(h).permute(0, 2, 3, 1)[:, None]}
