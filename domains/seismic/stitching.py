"""Patch-wise inference over a survey larger than a patch, with overlap blending.

Patches tile every axis with stride ``patch - overlap``; the last patch is moved back to end exactly at the
volume's edge, so every voxel is covered. Each patch prediction is weighted by a separable window, per axis
``w(i) = min(1, (i + 1) / (overlap + 1), (n - i) / (overlap + 1))`` for ``i = 0 .. n-1`` (a linear taper over
the overlap, strictly positive), and the result at a voxel is ``sum_p w_p y_p / sum_p w_p``. Sums are taken in
float64, so a model that returns its input reproduces a float32 volume exactly. Volumes smaller than a patch
along some axis are padded at the end by repeating the last slice, and the padding is cropped off again.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from sciddm.errors import ConfigError

PatchFunction = Callable[[dict[str, torch.Tensor]], torch.Tensor]


def patch_starts(size: int, patch: int, overlap: int) -> list[int]:
    """First indices of the patches along one axis of length ``size`` (``size >= patch``)."""
    starts = list(range(0, size - patch + 1, patch - overlap))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def blend_window(patch_shape: Sequence[int], overlap: Sequence[int]) -> torch.Tensor:
    """The separable blending weights ``[D, H, W]`` (float64) of the module docstring."""
    window = torch.ones((), dtype=torch.float64)
    for n, o in zip(patch_shape, overlap, strict=True):
        i = torch.arange(n, dtype=torch.float64)
        ramp = torch.minimum(torch.ones(()), torch.minimum((i + 1) / (o + 1), (n - i) / (o + 1)))
        window = window[..., None] * ramp
    return window


def stitch(
    predict: PatchFunction,
    inputs: dict[str, torch.Tensor],
    patch_shape: Sequence[int],
    overlap: int | Sequence[int] = 0,
    batch_size: int = 1,
) -> torch.Tensor:
    """Run ``predict`` on overlapping patches of ``inputs`` and blend the results into one volume.

    ``inputs`` maps names to tensors ``[C, D, H, W]`` sharing ``D, H, W``; ``predict`` receives a dict of the
    same names with patches batched ``[b, C, d, h, w]`` (``b <= batch_size``) and returns ``[b, C', d, h, w]``.
    Returns ``[C', D, H, W]`` in the dtype of the predictions.
    """
    spatial = next(iter(inputs.values())).shape[1:]
    patch_shape = tuple(int(p) for p in patch_shape)
    overlap = (int(overlap),) * 3 if isinstance(overlap, int) else tuple(int(o) for o in overlap)
    if len(spatial) != 3 or len(patch_shape) != 3 or len(overlap) != 3:
        raise ConfigError("stitching needs [C, D, H, W] inputs, a 3D patch shape and 3 overlaps")
    if any(tensor.shape[1:] != spatial for tensor in inputs.values()):
        raise ConfigError(f"inputs to stitch differ in size: { {k: tuple(v.shape) for k, v in inputs.items()} }")
    if not all(0 <= o < p for o, p in zip(overlap, patch_shape, strict=True)):
        raise ConfigError(f"overlap {overlap} must be >= 0 and smaller than the patch {patch_shape}")
    padding = [max(0, p - s) for p, s in zip(patch_shape, spatial, strict=True)]
    padded = {name: _pad_end(tensor, padding) for name, tensor in inputs.items()}
    size = [s + p for s, p in zip(spatial, padding, strict=True)]
    corners = list(itertools.product(*(patch_starts(n, p, o) for n, p, o in zip(size, patch_shape, overlap,
                                                                                    strict=True))))
    window = blend_window(patch_shape, overlap)
    total, weight, dtype = None, torch.zeros(size, dtype=torch.float64), None
    for first in range(0, len(corners), batch_size):
        batch = corners[first : first + batch_size]
        windows = [tuple(slice(c, c + p) for c, p in zip(corner, patch_shape, strict=True)) for corner in batch]
        predictions = predict({name: torch.stack([t[(slice(None), *w)] for w in windows])
                               for name, t in padded.items()})
        if total is None:
            dtype = predictions.dtype
            total = torch.zeros((predictions.shape[1], *size), dtype=torch.float64)
        for prediction, w in zip(predictions, windows, strict=True):
            total[(slice(None), *w)] += window * prediction.to(torch.float64)
            weight[w] += window
    blended = (total / weight).to(dtype)
    return blended[(slice(None), *(slice(0, s) for s in spatial))]


def _pad_end(tensor: torch.Tensor, padding: Sequence[int]) -> torch.Tensor:
    """Repeat the last slice along each spatial axis ``padding[k]`` times."""
    if not any(padding):
        return tensor
    pad = [amount for p in reversed(padding) for amount in (0, p)]
    return F.pad(tensor[None].to(torch.float64), pad, mode="replicate")[0].to(tensor.dtype)
