"""Patch datasets and the Lightning data module for seismic trace reconstruction.

A training example is a pair ``(fields, context)`` of dicts of float32 tensors, each ``[1, D, H, W]`` with
``D`` = inlines, ``H`` = crosslines, ``W`` = time samples (batched by the default collate to ``[B, 1, D, H, W]``):

- ``fields["volume"]``: the true patch, normalised;
- ``context["mask"]``: 1 on observed traces, 0 on missing ones;
- ``context["observed"]``: ``volume * mask`` (missing traces are zero).

**Normalisation** (:class:`Normalization`) maps a volume ``v`` to ``(v - shift) / scale`` and back with
``y * scale + shift``; its constants come from the *observed* samples only, since those are all that is known at
inference time: ``rms`` (default): shift 0, scale = root mean square; ``std``: shift = mean, scale = standard
deviation; ``maxabs``: shift 0, scale = max |v|. Training examples are normalised with the statistics of their
own observed traces; a survey is normalised once as a whole before it is cut into patches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from domains.seismic.masks import make_mask, random_pattern, volume_mask
from domains.seismic.synthetic import SyntheticConfig, synthetic_volume
from domains.seismic.volume_io import read_volume
from sciddm.errors import ConfigError, DataError, choose

Example = tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Normalization:
    """``normalise(v) = (v - shift) / scale``; ``denormalise`` is its exact inverse (up to rounding)."""

    shift: float
    scale: float

    def normalise(self, volume: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        return (volume - self.shift) / self.scale

    def denormalise(self, volume: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        return volume * self.scale + self.shift


def _rms(values: np.ndarray) -> tuple[float, float]:
    return 0.0, float(np.sqrt(np.mean(values**2)))


def _std(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std())


def _maxabs(values: np.ndarray) -> tuple[float, float]:
    return 0.0, float(np.abs(values).max())


NORMALIZATIONS = {"rms": _rms, "std": _std, "maxabs": _maxabs}


def fit_normalization(volume: np.ndarray, mask: np.ndarray, method: str = "rms") -> Normalization:
    """Normalisation constants from the observed samples of ``volume`` (``mask``: trace or full, True = observed)."""
    statistic = choose(method, NORMALIZATIONS, "normalization")
    observed = np.asarray(volume, dtype=np.float64)[volume_mask(mask, volume.shape)]
    if observed.size == 0:
        raise ConfigError("cannot normalise a volume without observed traces")
    shift, scale = statistic(observed)
    if not scale > 0:
        raise ConfigError(f"cannot normalise: the observed traces have {method} scale {scale}")
    return Normalization(shift, scale)


def make_example(volume: np.ndarray, mask: np.ndarray, normalization: Normalization) -> Example:
    """The ``(fields, context)`` pair of one normalised patch and its mask."""
    full_mask = volume_mask(mask, volume.shape).astype(np.float32)
    normalised = np.asarray(normalization.normalise(volume.astype(np.float64)), dtype=np.float32)
    as_tensor = lambda array: torch.from_numpy(np.ascontiguousarray(array))[None]  # noqa: E731
    return {"volume": as_tensor(normalised)}, {"observed": as_tensor(normalised * full_mask),
                                               "mask": as_tensor(full_mask)}


class MaskSampler:
    """Draws trace masks: ``pattern="mixed"`` picks one at random per example (see ``masks.random_pattern``),
    any other pattern name uses :func:`masks.make_mask` with ``options`` (a ``seed`` is supplied for the
    random patterns)."""

    def __init__(self, pattern: str = "mixed", options: dict | None = None):
        self.pattern, self.options = pattern, dict(options or {})
        if pattern != "mixed":
            make_mask(pattern, (4, 4), **self._options(np.random.default_rng(0)))  # fail early on bad options

    def _options(self, rng: np.random.Generator) -> dict:
        if self.pattern in ("random", "inlines"):
            return {"seed": int(rng.integers(2**63)), **self.options}
        return self.options

    def __call__(self, grid: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """A mask for ``grid``; if it drops every trace, one random trace is kept (normalisation needs one)."""
        mask = random_pattern(grid, rng) if self.pattern == "mixed" else make_mask(self.pattern, grid,
                                                                                   **self._options(rng))
        if not mask.any():
            mask[tuple(rng.integers(grid))] = True
        return mask


class SyntheticPatchDataset(Dataset):
    """``length`` synthetic volumes of ``patch_shape``; example ``k`` depends only on ``(seed, k)``."""

    def __init__(self, length: int, patch_shape: Sequence[int], seed: int, masks: MaskSampler,
                 normalization: str = "rms", config: SyntheticConfig | None = None):
        self.length, self.patch_shape, self.seed = length, tuple(patch_shape), seed
        self.masks, self.normalization, self.config = masks, normalization, config

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Example:
        rng = np.random.default_rng([self.seed, index])
        volume = synthetic_volume(self.patch_shape, int(rng.integers(2**63)), self.config)
        mask = self.masks(self.patch_shape[:2], rng)
        return make_example(volume, mask, fit_normalization(volume, mask, self.normalization))


class VolumePatchDataset(Dataset):
    """``length`` random patches (corner uniform, mask from ``masks``) of the given volumes; example ``k``
    depends only on ``(seed, k)``. Volumes smaller than the patch are rejected naming the file."""

    def __init__(self, volumes: Sequence[np.ndarray], names: Sequence[str], length: int,
                 patch_shape: Sequence[int], seed: int, masks: MaskSampler, normalization: str = "rms"):
        self.patch_shape = tuple(patch_shape)
        for volume, name in zip(volumes, names, strict=True):
            if any(v < p for v, p in zip(volume.shape, self.patch_shape, strict=True)):
                raise DataError(name, f"volume {volume.shape} is smaller than the patch {self.patch_shape}")
        self.volumes, self.length, self.seed = list(volumes), length, seed
        self.masks, self.normalization = masks, normalization

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Example:
        rng = np.random.default_rng([self.seed, index])
        volume = self.volumes[rng.integers(len(self.volumes))]
        corner = [rng.integers(v - p + 1) for v, p in zip(volume.shape, self.patch_shape, strict=True)]
        patch = volume[tuple(slice(c, c + p) for c, p in zip(corner, self.patch_shape, strict=True))]
        mask = self.masks(self.patch_shape[:2], rng)
        return make_example(patch, mask, fit_normalization(patch, mask, self.normalization))


class SeismicDataModule(pl.LightningDataModule):
    """Training on synthetic volumes (default) or on random patches of your own ``.npy`` / SEG-Y volumes.

    With ``volumes``, training patches come from the first ``1 - val_fraction`` of each volume's inlines and
    validation patches from the rest, so validation is spatially held out. Training, validation and test
    examples use the seeds ``seed``, ``seed + 1`` and ``seed + 2`` (validation and test both from the
    held-out inlines when ``volumes`` are given).
    """

    def __init__(
        self,
        patch_shape: tuple[int, int, int] = (32, 32, 64),
        batch_size: int = 8,
        train_size: int = 2048,
        val_size: int = 64,
        test_size: int = 64,
        seed: int = 0,
        mask_pattern: str = "mixed",
        mask_options: dict | None = None,
        normalization: str = "rms",
        volumes: list[str] | None = None,
        val_fraction: float = 0.2,
        num_workers: int = 0,
    ):
        super().__init__()
        if len(patch_shape) != 3 or min(patch_shape) < 1:
            raise ConfigError(f"patch_shape must be three positive sizes, got {patch_shape}")
        choose(normalization, NORMALIZATIONS, "normalization")
        self.save_hyperparameters()
        self.masks = MaskSampler(mask_pattern, mask_options)

    def _dataset(self, length: int, seed: int, part: str) -> Dataset:
        hp = self.hparams
        if not hp.volumes:
            return SyntheticPatchDataset(length, hp.patch_shape, seed, self.masks, hp.normalization)
        volumes = [read_volume(path) for path in hp.volumes]
        split = [round(len(v) * (1 - hp.val_fraction)) for v in volumes]
        parts = [v[:s] if part == "train" else v[s:] for v, s in zip(volumes, split, strict=True)]
        names = [f"{Path(p)} ({part} inlines)" for p in hp.volumes]
        return VolumePatchDataset(parts, names, length, hp.patch_shape, seed, self.masks, hp.normalization)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.train_set = self._dataset(hp.train_size, hp.seed, "train")
        self.val_set = self._dataset(hp.val_size, hp.seed + 1, "val")
        self.test_set = self._dataset(hp.test_size, hp.seed + 2, "val")

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)
