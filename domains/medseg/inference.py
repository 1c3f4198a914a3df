"""Sliding-window inference for volumes larger than the training patch, with overlap blending.

The volume [B, C, *spatial] is covered by windows of ``patch_size``; along each axis the window starts are
``0, step, 2 step, ...`` with ``step = max(1, floor(patch * (1 - overlap)))``, plus a last window flush with the
end. Each window's prediction is accumulated with weight ``w`` and the result divided by the summed weights:
``out(x) = sum_k w_k(x) f_k(x) / sum_k w_k(x)``. ``blend="constant"`` uses ``w = 1``; ``blend="gaussian"`` uses
a Gaussian centred on the window with standard deviation ``sigma_scale * patch`` per axis (1/8, as nnU-Net,
Isensee et al. 2021), so window borders, where the network sees less context, count less. A volume smaller than
the patch is zero-padded and the output cropped back. ``predict`` may be any function of an image batch,
for example a sampler returning fused ensemble probabilities.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

import torch
from torch.nn import functional as F

from sciddm.errors import ConfigError


def window_starts(size: int, patch: int, overlap: float) -> list[int]:
    """Start offsets of the windows along one axis (see the module docstring)."""
    step = max(1, int(patch * (1.0 - overlap)))
    starts = list(range(0, size - patch + 1, step))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def blend_weights(patch_size: tuple[int, ...], blend: str, sigma_scale: float) -> torch.Tensor:
    """The per-window weight map ``w`` (strictly positive)."""
    if blend == "constant":
        return torch.ones(patch_size)
    if blend != "gaussian":
        raise ConfigError(f"unknown blend {blend!r}; choose one of: constant, gaussian")
    axes = [torch.exp(-0.5 * ((torch.arange(p) - (p - 1) / 2.0) / (sigma_scale * p)) ** 2) for p in patch_size]
    weights = axes[0]
    for axis in axes[1:]:
        weights = weights[..., None] * axis
    return weights.clamp_min(1e-6)


@torch.no_grad()
def sliding_window(volume: torch.Tensor, patch_size: tuple[int, ...], predict: Callable[[torch.Tensor], torch.Tensor],
                   overlap: float = 0.5, blend: str = "gaussian", sigma_scale: float = 0.125,
                   batch_size: int = 4) -> torch.Tensor:
    """Blend ``predict`` over overlapping windows of ``volume`` [B, C, *spatial] (see the module docstring).

    ``batch_size`` windows are evaluated per call; the output has ``predict``'s channel count.
    """
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"overlap must be in [0, 1), got {overlap}")
    size = volume.shape[2:]
    if len(patch_size) != len(size):
        raise ConfigError(f"patch {tuple(patch_size)} and volume {tuple(size)} differ in dimensionality")
    padded = [max(s, p) for s, p in zip(size, patch_size, strict=True)]
    volume = F.pad(volume, [q for s, p in zip(reversed(size), reversed(padded), strict=True) for q in (0, p - s)])
    weights = blend_weights(tuple(patch_size), blend, sigma_scale).to(volume)
    corners = list(product(*(window_starts(s, p, overlap) for s, p in zip(padded, patch_size, strict=True))))
    total, norm = None, torch.zeros(padded, dtype=volume.dtype, device=volume.device)
    for first in range(0, len(corners), batch_size):
        chunk = corners[first: first + batch_size]
        windows = [tuple(slice(c, c + p) for c, p in zip(corner, patch_size, strict=True)) for corner in chunk]
        batch = torch.cat([volume[(slice(None), slice(None)) + w] for w in windows])
        outputs = predict(batch).reshape(len(chunk), volume.shape[0], -1, *patch_size)
        if total is None:
            total = torch.zeros(volume.shape[0], outputs.shape[2], *padded, dtype=volume.dtype, device=volume.device)
        for window, output in zip(windows, outputs, strict=True):
            total[(slice(None), slice(None)) + window] += output * weights
            norm[window] += weights
    crop = tuple(slice(0, s) for s in size)
    return (total / norm)[(slice(None), slice(None)) + crop]
