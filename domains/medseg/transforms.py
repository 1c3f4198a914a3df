"""Intensity normalisation, augmentation, resolution reduction and the two encodings of the mask field.

Arrays are channel-first: images ``[C, *spatial]``, label maps ``[*spatial]`` of integer classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sciddm.errors import ConfigError

MASK_VARIANTS = ("continuous", "categorical")


def normalize_intensity(image: np.ndarray, method: str = "zscore", region: str = "nonzero",
                        percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Normalise each channel of ``image`` [C, *spatial].

    ``zscore``: ``(x - m) / s`` with mean ``m`` and standard deviation ``s`` taken over the channel's non-zero
    voxels (``region="nonzero"``, the brain in skull-stripped MRI) or over all voxels (``region="all"``); voxels
    outside the region keep their value mapped by the same formula.
    ``percentile``: clip to the ``percentiles`` of the region, then map linearly onto [-1, 1].
    ``none``: return a float32 copy.
    """
    if method not in ("zscore", "percentile", "none"):
        raise ConfigError(f"unknown normalisation {method!r}; choose one of: none, percentile, zscore")
    if region not in ("nonzero", "all"):
        raise ConfigError(f"unknown normalisation region {region!r}; choose one of: all, nonzero")
    out = np.empty(image.shape, dtype=np.float32)
    for c, channel in enumerate(image.astype(np.float64)):
        values = channel[channel != 0] if region == "nonzero" and np.any(channel != 0) else channel.ravel()
        if method == "zscore":
            out[c] = (channel - values.mean()) / max(values.std(), 1e-8)
        elif method == "percentile":
            low, high = np.percentile(values, percentiles)
            out[c] = 2.0 * (np.clip(channel, low, high) - low) / max(high - low, 1e-8) - 1.0
        else:
            out[c] = channel
    return out


@dataclass(frozen=True)
class Augmentation:
    """Random flips (same flip for image and mask) and intensity scale/shift/noise (image only).

    Each axis in ``flip_axes`` (spatial axis numbers, 0 = first spatial axis) is flipped with probability 1/2;
    the image is then mapped to ``x * (1 + u1) + u2 + noise_std * N(0, 1)`` with ``u1 ~ U[-scale, scale]`` and
    ``u2 ~ U[-shift, shift]``.
    """

    flip_axes: tuple[int, ...] = ()
    intensity_scale: float = 0.0
    intensity_shift: float = 0.0
    noise_std: float = 0.0

    def __call__(self, image: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
        for axis in self.flip_axes:
            if rng.random() < 0.5:
                image, labels = np.flip(image, axis + 1), np.flip(labels, axis)
        scale = 1.0 + rng.uniform(-self.intensity_scale, self.intensity_scale)
        image = image * scale + rng.uniform(-self.intensity_shift, self.intensity_shift)
        if self.noise_std > 0:
            image = image + self.noise_std * rng.standard_normal(image.shape)
        return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(labels)


def block_mean(array: np.ndarray, factor: int, first_axis: int = 0) -> np.ndarray:
    """Average non-overlapping blocks of ``factor`` voxels along every axis from ``first_axis`` on.

    Trailing voxels that do not fill a whole block are dropped.
    """
    if factor == 1:
        return array
    trimmed = array[tuple(slice(None) if a < first_axis else slice(0, (s // factor) * factor)
                          for a, s in enumerate(array.shape))]
    shape = list(trimmed.shape[:first_axis])
    for s in trimmed.shape[first_axis:]:
        shape += [s // factor, factor]
    blocks = trimmed.reshape(shape)
    return blocks.mean(axis=tuple(range(first_axis + 1, len(shape), 2)))


def block_affine(affine: np.ndarray, factor: int) -> np.ndarray:
    """Voxel-to-world affine of the grid made by :func:`block_mean`: new voxel ``j`` is the centre of old voxels
    ``factor * j .. factor * j + factor - 1``, i.e. old index ``factor * j + (factor - 1) / 2``."""
    scale = np.diag([float(factor)] * 3 + [1.0])
    scale[:3, 3] = (factor - 1) / 2.0
    return np.asarray(affine, dtype=np.float64) @ scale


def block_upsample(array: np.ndarray, factor: int, shape: tuple[int, ...]) -> np.ndarray:
    """Undo :func:`block_mean` on the last ``len(shape)`` axes: repeat every voxel ``factor`` times, then pad the
    trailing voxels that :func:`block_mean` dropped with copies of the last voxel (edge mode)."""
    lead = array.ndim - len(shape)
    for axis in range(lead, array.ndim):
        array = np.repeat(array, factor, axis=axis)
    pad = [(0, 0)] * lead + [(0, target - size) for size, target in zip(array.shape[lead:], shape, strict=True)]
    return np.pad(array, pad, mode="edge")


def block_mode(labels: np.ndarray, factor: int, num_classes: int) -> np.ndarray:
    """Most frequent label in each block (ties to the lower label), the label analogue of :func:`block_mean`."""
    if factor == 1:
        return labels
    one_hot = np.stack([labels == k for k in range(num_classes)]).astype(np.float32)
    return np.argmax(block_mean(one_hot, factor, first_axis=1), axis=0).astype(np.int64)


def encode_mask(labels: torch.Tensor, num_classes: int, variant: str) -> torch.Tensor:
    """The generated field ``mask`` from integer labels [B, *spatial].

    ``categorical``: the labels as int64, [B, 1, *spatial]. ``continuous``: values in [-1, 1]; for two classes
    ``2 * label - 1`` with shape [B, 1, *spatial], for more classes the one-hot code mapped to {-1, 1} with shape
    [B, K, *spatial] (analog one-hot).
    """
    if variant == "categorical":
        return labels.long().unsqueeze(1)
    if variant != "continuous":
        raise ConfigError(f"unknown mask variant {variant!r}; choose one of: {', '.join(MASK_VARIANTS)}")
    if num_classes == 2:
        return (2.0 * labels.float() - 1.0).unsqueeze(1)
    one_hot = torch.nn.functional.one_hot(labels.long(), num_classes).movedim(-1, 1)
    return 2.0 * one_hot.float() - 1.0


def mask_probabilities(mask: torch.Tensor, variant: str, num_classes: int) -> torch.Tensor:
    """Class probabilities [B, C, *spatial] of one drawn ``mask`` field per row (the input of ensemble fusion).

    ``continuous`` with one channel: ``p_1 = clip((x + 1) / 2, 0, 1)``, ``p_0 = 1 - p_1`` (the argmax over
    classes, ties to class 0, is :func:`decode_mask`); with K channels: ``clip((x_c + 1) / 2, 0, 1)`` normalised to
    sum 1 (uniform where every channel is clipped to 0). ``categorical``: the one-hot code of the drawn labels.
    """
    if variant == "categorical":
        labels = decode_mask(mask, variant)
        return torch.nn.functional.one_hot(labels, num_classes).movedim(-1, 1).float()
    if variant != "continuous":
        raise ConfigError(f"unknown mask variant {variant!r}; choose one of: {', '.join(MASK_VARIANTS)}")
    p = ((mask.float() + 1.0) / 2.0).clamp(0.0, 1.0)
    if mask.shape[1] == 1:
        return torch.cat([1.0 - p, p], dim=1)
    total = p.sum(dim=1, keepdim=True)
    return torch.where(total > 0, p / total.clamp_min(1e-12), torch.full_like(p, 1.0 / p.shape[1]))


def decode_mask(mask: torch.Tensor, variant: str) -> torch.Tensor:
    """Integer labels [B, *spatial] from a ``mask`` field: inverse of :func:`encode_mask`.

    ``continuous`` with one channel: label 1 where the value is > 0 (probability 1/2 after the map
    ``p = (x + 1) / 2``); with K channels: argmax. ``categorical``: integer [B, 1, *spatial] labels are squeezed;
    logits or probabilities [B, 1, *spatial, K] are reduced by argmax over the class axis.
    """
    if variant == "categorical":
        labels = mask if not mask.is_floating_point() else mask.argmax(dim=-1)
        return labels.squeeze(1).long()
    if variant != "continuous":
        raise ConfigError(f"unknown mask variant {variant!r}; choose one of: {', '.join(MASK_VARIANTS)}")
    return (mask[:, 0] > 0).long() if mask.shape[1] == 1 else mask.argmax(dim=1)
