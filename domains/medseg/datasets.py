"""2D slice and 3D patch datasets over image volumes [C, X, Y, Z] with integer label maps [X, Y, Z].

Items are ``{"image": float32 [C, *spatial], "labels": int64 [*spatial]}``; the data module turns ``labels``
into the generated ``mask`` field. Random choices (patch positions, augmentation) use
``numpy.random.default_rng([seed, epoch, index])``: the same seed and epoch give the same items in any order
and with any number of workers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from domains.medseg.splits import contiguous_runs
from domains.medseg.transforms import Augmentation
from sciddm.errors import ConfigError

Volumes = list[tuple[np.ndarray, np.ndarray]]


def fit_to_size(array: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    """Centre-crop or zero-pad the last ``len(size)`` axes of ``array`` to ``size``."""
    lead = array.ndim - len(size)
    crop = tuple(slice(max(0, (s - t) // 2), max(0, (s - t) // 2) + min(s, t))
                 for s, t in zip(array.shape[lead:], size, strict=True))
    array = array[(slice(None),) * lead + crop]
    pad = [(0, 0)] * lead + [((t - s) // 2, t - s - (t - s) // 2)
                             for s, t in zip(array.shape[lead:], size, strict=True)]
    return np.pad(array, pad)


class EpochSeeded(Dataset):
    """Base: holds the seed, the epoch and the augmentation, and wraps arrays into tensors."""

    def __init__(self, augmentation: Augmentation | None, seed: int):
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw new random patches/augmentations for ``epoch``."""
        self.epoch = epoch

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def item(self, image: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        if self.augmentation is not None:
            image, labels = self.augmentation(image, labels, rng)
        return {"image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
                "labels": torch.from_numpy(np.ascontiguousarray(labels, dtype=np.int64))}


class SliceDataset(EpochSeeded):
    """2D slices ``indices`` along spatial ``axis`` of each volume, optionally cropped/padded to ``size``.

    ``min_foreground``: keep only slices whose label map has at least this fraction of non-zero voxels.
    """

    def __init__(self, volumes: Volumes, indices: np.ndarray, axis: int = 2, size: tuple[int, int] | None = None,
                 min_foreground: float = 0.0, augmentation: Augmentation | None = None, seed: int = 0):
        super().__init__(augmentation, seed)
        self.volumes, self.axis, self.size = volumes, axis, size
        self.items = [(v, int(i)) for v, (_, labels) in enumerate(volumes) for i in indices
                      if np.mean(np.take(labels, int(i), axis=axis) != 0) >= min_foreground]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        v, i = self.items[index]
        image, labels = self.volumes[v]
        image, labels = np.take(image, i, axis=self.axis + 1), np.take(labels, i, axis=self.axis)
        if self.size is not None:
            image, labels = fit_to_size(image, self.size), fit_to_size(labels, self.size)
        return self.item(image, labels, self.rng(index))


class PatchDataset(EpochSeeded):
    """``length`` random 3D patches of ``patch_size`` lying wholly inside the allowed slab ``indices`` of ``axis``.

    A patch is centred on a random foreground voxel with probability ``foreground_probability`` (the
    oversampling of nnU-Net, Isensee et al. 2021), otherwise placed uniformly; either way it is clamped into the
    volume and into one contiguous run of allowed slices, so it never touches another split.
    """

    def __init__(self, volumes: Volumes, indices: np.ndarray, patch_size: tuple[int, int, int], length: int,
                 axis: int = 2, foreground_probability: float = 0.33, augmentation: Augmentation | None = None,
                 seed: int = 0):
        super().__init__(augmentation, seed)
        self.volumes, self.patch_size, self.length, self.axis = volumes, tuple(patch_size), length, axis
        self.foreground_probability = foreground_probability
        self.foreground_cache: dict[tuple[int, int], np.ndarray] = {}
        self.runs = [(a, b) for a, b in contiguous_runs(np.asarray(indices)) if b - a >= patch_size[axis]]
        if not self.runs:
            raise ConfigError(f"no run of allowed slices along axis {axis} is as long as the patch {patch_size}")
        for image, _ in volumes:
            if any(s < p for s, p in zip(image.shape[1:], patch_size, strict=True)):
                raise ConfigError(f"patch {patch_size} larger than volume {image.shape[1:]}")

    def __len__(self) -> int:
        return self.length

    def foreground(self, volume: int, run: int) -> np.ndarray:
        """Coordinates of the foreground voxels of ``volume`` inside slab ``run`` (computed once, then cached)."""
        key = (volume, run)
        if key not in self.foreground_cache:
            start, stop = self.runs[run]
            labels = self.volumes[volume][1]
            coords = np.argwhere(np.take(labels, np.arange(start, stop), axis=self.axis) != 0)
            coords[:, self.axis] += start
            self.foreground_cache[key] = coords
        return self.foreground_cache[key]

    def corner(self, volume: int, rng: np.random.Generator) -> list[int]:
        """Lower corner of the patch (see the class docstring)."""
        lengths = np.array([b - a for a, b in self.runs], dtype=np.float64)
        run = int(rng.choice(len(self.runs), p=lengths / lengths.sum()))
        low = [0, 0, 0]
        high = [s - p for s, p in zip(self.volumes[volume][1].shape, self.patch_size, strict=True)]
        low[self.axis], high[self.axis] = self.runs[run][0], self.runs[run][1] - self.patch_size[self.axis]
        foreground = self.foreground(volume, run)
        if len(foreground) and rng.random() < self.foreground_probability:
            centre = foreground[rng.integers(len(foreground))]
            wanted = [c - p // 2 for c, p in zip(centre, self.patch_size, strict=True)]
        else:
            wanted = [rng.integers(a, b + 1) for a, b in zip(low, high, strict=True)]
        return [int(np.clip(w, a, b)) for w, a, b in zip(wanted, low, high, strict=True)]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self.rng(index)
        volume = int(rng.integers(len(self.volumes)))
        image, labels = self.volumes[volume]
        window = tuple(slice(c, c + p) for c, p in zip(self.corner(volume, rng), self.patch_size, strict=True))
        return self.item(image[(slice(None),) + window], labels[window], rng)
