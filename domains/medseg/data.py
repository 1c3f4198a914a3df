"""The medseg LightningDataModule: field ``mask`` generated, context ``image`` given.

A batch is ``{"mask": Tensor, "context": {"image": Tensor [B, C, *spatial]}}`` where ``mask`` is
[B, 1, H, W] (2D) or [B, 1, D, H, W] (3D): integer classes for ``mask_variant="categorical"``, values in
[-1, 1] for ``"continuous"`` (K channels instead of 1 when there are K > 2 classes; see
:func:`domains.medseg.transforms.encode_mask`).

Sources and their splits (never random voxels):

* ``mni152``: the MNI152 T1 with a white-matter (``task="wm"``) or GM/WM (``task="tissue"``) target, reduced by
  ``downsample`` (block mean for the image, block mode for labels), split into slabs along ``axis``
  (:func:`domains.medseg.splits.slab_split`) over the slices that hold the target (:func:`foreground_slab_split`).
* ``synthetic``: :mod:`domains.medseg.synthetic` samples, split by sample index (samples are independent).
* ``decathlon``: the user's cases under ``root`` (:mod:`domains.medseg.decathlon`), split by case.

``spatial_dims=2`` gives slices along ``axis``, ``spatial_dims=3`` gives random patches of ``patch_size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.dataloader import default_collate

from domains.medseg.datasets import PatchDataset, SliceDataset, Volumes
from domains.medseg.decathlon import load_decathlon
from domains.medseg.splits import contiguous_runs, slab_split
from domains.medseg.synthetic import SyntheticConfig, synthetic_sample
from domains.medseg.templates import load_mni152
from domains.medseg.transforms import Augmentation, block_mean, block_mode, encode_mask, normalize_intensity
from sciddm.errors import ConfigError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class FieldCollate:
    """Stack items and encode the labels as the ``mask`` field (picklable, for worker processes)."""

    num_classes: int
    mask_variant: str

    def __call__(self, items: list[dict[str, torch.Tensor]]) -> dict:
        batch = default_collate(items)
        return {"mask": encode_mask(batch["labels"], self.num_classes, self.mask_variant),
                "context": {"image": batch["image"]}}


def index_split(n: int, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Split ``range(n)`` (cases or independent samples) by a seeded permutation, in proportion to fractions."""
    order = np.random.default_rng(seed).permutation(n)
    slabs = slab_split(n, fractions)
    return {name: np.sort(order[idx]) for name, idx in slabs.items()}


class MedSegDataModule(pl.LightningDataModule):
    """See the module docstring. All sizes and choices are constructor arguments (LightningCLI-friendly)."""

    def __init__(self, source: str = "synthetic", root: str | None = None, spatial_dims: int = 2,
                 mask_variant: str = "categorical", task: str = "wm", downsample: int = 2, axis: int = 2,
                 synthetic_samples: int = 256, synthetic_shape: tuple[int, ...] = (64, 64),
                 synthetic_classes: int = 2, slice_size: tuple[int, int] | None = None,
                 patch_size: tuple[int, int, int] = (32, 32, 32), patches_per_epoch: int = 256,
                 split_fractions: dict[str, float] | None = None, n_cycles: int = 1, gap: int = 2,
                 min_foreground: float = 0.0, normalization: str = "zscore", flip_axes: tuple[int, ...] = (),
                 intensity_scale: float = 0.1, intensity_shift: float = 0.1, batch_size: int = 8,
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ConfigError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if source not in ("synthetic", "mni152", "decathlon"):
            raise ConfigError(f"unknown medseg source {source!r}; choose one of: decathlon, mni152, synthetic")
        if source == "decathlon" and root is None:
            raise ConfigError("source 'decathlon' needs root= the dataset folder")
        self.save_hyperparameters()
        self.fractions = split_fractions or {"train": 0.7, "val": 0.15, "test": 0.15}
        if set(self.fractions) != set(SPLITS):
            raise ConfigError(f"split_fractions must have the keys {SPLITS}, got {sorted(self.fractions)}")
        self.augmentation = Augmentation(tuple(flip_axes), intensity_scale, intensity_shift)
        self.datasets: dict[str, Dataset] = {}
        self.label_names: dict[int, str] = {}
        self.split_volumes: dict[str, Volumes] = {}  # whole held-out slabs or cases, for sliding-window use

    @property
    def num_classes(self) -> int:
        return max(self.label_names) + 1

    def load_volumes(self) -> tuple[Volumes, dict[str, np.ndarray], int]:
        """Normalised volumes, the split indices (slices or volumes) and the axis the split refers to."""
        hp = self.hparams
        if hp.source == "mni152":
            subject = load_mni152(hp.task)
            self.label_names = subject.label_names
            image = block_mean(subject.image.data[None], hp.downsample, first_axis=1)
            labels = block_mode(subject.labels, hp.downsample, len(subject.label_names))
            volumes = [(normalize_intensity(image, hp.normalization), labels)]
            return volumes, foreground_slab_split(labels, hp.axis, self.fractions, hp.n_cycles, hp.gap), hp.axis
        if hp.source == "synthetic":
            config = SyntheticConfig(shape=tuple(hp.synthetic_shape), num_classes=hp.synthetic_classes)
            self.label_names = {k: "background" if k == 0 else f"class {k}" for k in range(hp.synthetic_classes)}
            samples = [synthetic_sample(i, config, hp.seed) for i in range(hp.synthetic_samples)]
            samples = [(normalize_intensity(x, hp.normalization, region="all"), y) for x, y in samples]
            split = index_split(len(samples), self.fractions, hp.seed)
        else:
            cases, self.label_names = load_decathlon(hp.root)
            samples = [(normalize_intensity(c.image, hp.normalization), c.labels) for c in cases]
            split = index_split(len(samples), self.fractions, hp.seed)
        if hp.spatial_dims == 2 and samples[0][1].ndim == 2:  # independent 2D samples: stack along a last axis
            image = np.stack([x for x, _ in samples], axis=-1)
            return [(image, np.stack([y for _, y in samples], axis=-1))], split, 2
        return samples, split, -1

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        volumes, split, axis = self.load_volumes()
        for k, name in enumerate(SPLITS):
            augmentation = self.augmentation if name == "train" else None
            if axis >= 0:  # one set of volumes, split by slices along axis
                parts, indices = volumes, split[name]
                self.split_volumes[name] = [(x[(slice(None),) + region], y[region]) for x, y in volumes
                                            for region in slab_regions(y.ndim, axis, indices)]
            else:  # split by volume
                parts = [volumes[i] for i in split[name]]
                self.split_volumes[name] = parts
                indices = np.arange(parts[0][1].shape[hp.axis]) if parts else np.arange(0)
            if not parts or len(indices) == 0:
                raise ConfigError(f"the {name} split is empty; use more data or other split_fractions")
            if hp.spatial_dims == 2:
                self.datasets[name] = SliceDataset(parts, indices, axis if axis >= 0 else hp.axis, hp.slice_size,
                                                   hp.min_foreground, augmentation, hp.seed + k)
            else:
                self.datasets[name] = PatchDataset(parts, indices, hp.patch_size, hp.patches_per_epoch,
                                                   hp.axis, augmentation=augmentation, seed=hp.seed + k)
            if len(self.datasets[name]) == 0:
                raise ConfigError(f"the {name} split has no slice with min_foreground={hp.min_foreground}")

    def loader(self, name: str, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.hparams.seed)
        return DataLoader(self.datasets[name], batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers, generator=generator,
                          collate_fn=FieldCollate(self.num_classes, self.hparams.mask_variant))

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader("test", shuffle=False)


def foreground_slab_split(labels: np.ndarray, axis: int, fractions: dict[str, float], n_cycles: int,
                          gap: int) -> dict[str, np.ndarray]:
    """:func:`slab_split` of the slices between the first and the last one holding a non-zero label.

    Whole-head templates have many empty slices at both ends; splitting the full axis would leave a held-out slab
    without any target.
    """
    present = np.flatnonzero(np.any(labels != 0, axis=tuple(a for a in range(labels.ndim) if a != axis)))
    if len(present) == 0:
        raise ConfigError("the label map is empty: nothing to split")
    first = int(present[0])
    split = slab_split(int(present[-1]) + 1 - first, fractions, n_cycles, gap)
    return {name: indices + first for name, indices in split.items()}


def slab_regions(ndim: int, axis: int, indices: np.ndarray) -> list[tuple[slice, ...]]:
    """One index tuple per contiguous run of ``indices`` along ``axis`` (views of the held-out slabs)."""
    regions = []
    for start, stop in contiguous_runs(indices):
        region = [slice(None)] * ndim
        region[axis] = slice(start, stop)
        regions.append(tuple(region))
    return regions
