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

As a :class:`~sciddm.lightning.data.DiffusionDataModule` (what ``sciddm sample`` and validation sampling use):

* :meth:`MedSegDataModule.sample_template`: the images to segment are the held-out items of one volume
  (``sample_split``, ``sample_volume``): its slices in order (2D) or the non-overlapping tiles of ``patch_size``
  covering its held-out region (3D, the last tile flush with the end). The context carries ``image``, the
  ``reference`` labels (never read by the network; used for scoring) and ``position`` (slice index, or the tile's
  lower corner).
* :meth:`MedSegDataModule.write_samples`: the drawn labels placed back at their positions on that volume's grid
  (voxels not drawn are 0), as NIfTI with the volume's affine and spacing (the source affine, composed with the
  block reduction for ``downsample > 1``).
* :meth:`MedSegDataModule.evaluate_samples`: Dice/IoU/HD95/ASD per class of the drawn labels against the reference
  (:mod:`domains.medseg.metrics` definitions): in 2D per slice (``slice_*``, empty-slice rules included) and pooled
  over all drawn pixels (``pooled_dice_c*``); in 3D averaged over tiles (``tile_*``).
* :meth:`MedSegDataModule.render_samples`: an overlay (:mod:`domains.medseg.pictures`) of the drawn slice or tile
  with the most reference foreground.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.dataloader import default_collate

from domains.medseg.datasets import PatchDataset, SliceDataset, Volumes, fit_to_size
from domains.medseg.decathlon import load_decathlon
from domains.medseg.inference import window_starts
from domains.medseg.io import write_nifti
from domains.medseg.metrics import pair_metrics, slice_level
from domains.medseg.pictures import write_overlay
from domains.medseg.splits import contiguous_runs, slab_split
from domains.medseg.synthetic import SyntheticConfig, synthetic_sample
from domains.medseg.templates import load_mni152
from domains.medseg.transforms import (
    Augmentation,
    block_affine,
    block_mean,
    block_mode,
    decode_mask,
    encode_mask,
    normalize_intensity,
)
from sciddm.errors import ConfigError
from sciddm.lightning.data import DiffusionDataModule

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Grid:
    """Where a volume lives: the voxel-to-world ``affine`` (4x4) and the voxel ``spacing`` in mm."""

    affine: np.ndarray
    spacing: tuple[float, float, float]


UNIT_GRID = Grid(np.eye(4), (1.0, 1.0, 1.0))


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


class MedSegDataModule(DiffusionDataModule):
    """See the module docstring. All sizes and choices are constructor arguments (LightningCLI-friendly).

    ``downsample`` applies to the MNI152 source only (block mean of the image, block mode of the labels).
    """

    sample_suffix = ".nii.gz"

    def __init__(self, source: str = "synthetic", root: str | None = None, spatial_dims: int = 2,
                 mask_variant: str = "categorical", task: str = "wm", downsample: int = 2, axis: int = 2,
                 synthetic_samples: int = 256, synthetic_shape: tuple[int, ...] = (64, 64),
                 synthetic_classes: int = 2, slice_size: tuple[int, int] | None = None,
                 patch_size: tuple[int, int, int] = (32, 32, 32), patches_per_epoch: int = 256,
                 split_fractions: dict[str, float] | None = None, n_cycles: int = 1, gap: int = 2,
                 min_foreground: float = 0.0, normalization: str = "zscore", flip_axes: tuple[int, ...] = (),
                 intensity_scale: float = 0.1, intensity_shift: float = 0.1, sample_split: str = "val",
                 sample_volume: int = 0, batch_size: int = 8, num_workers: int = 0, seed: int = 0):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if spatial_dims not in (2, 3):
            raise ConfigError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if source not in ("synthetic", "mni152", "decathlon"):
            raise ConfigError(f"unknown medseg source {source!r}; choose one of: decathlon, mni152, synthetic")
        if source == "decathlon" and root is None:
            raise ConfigError("source 'decathlon' needs root= the dataset folder")
        if sample_split not in SPLITS:
            raise ConfigError(f"sample_split must be one of {SPLITS}, got {sample_split!r}")
        self.save_hyperparameters()
        self.fractions = split_fractions or {"train": 0.7, "val": 0.15, "test": 0.15}
        if set(self.fractions) != set(SPLITS):
            raise ConfigError(f"split_fractions must have the keys {SPLITS}, got {sorted(self.fractions)}")
        self.augmentation = Augmentation(tuple(flip_axes), intensity_scale, intensity_shift)
        self.datasets: dict[str, Dataset] = {}
        self.label_names: dict[int, str] = {}
        self.split_volumes: dict[str, Volumes] = {}  # whole held-out slabs or cases, for sliding-window use
        self.split_grids: dict[str, list[Grid]] = {}  # the grid of each volume a split's dataset reads

    @property
    def num_classes(self) -> int:
        return max(self.label_names) + 1

    @property
    def resolution_factor(self) -> int:
        """The block size by which source volumes are reduced before training (1: none)."""
        return self.hparams.downsample if self.hparams.source == "mni152" else 1

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """A source image [C, *spatial] as the network was trained to see it: reduced by
        :attr:`resolution_factor`, then intensity-normalised (over non-zero voxels, or all voxels for synthetic
        images, which have no zero background)."""
        region = "all" if self.hparams.source == "synthetic" else "nonzero"
        reduced = block_mean(image, self.resolution_factor, first_axis=1)
        return normalize_intensity(reduced, self.hparams.normalization, region=region)

    def load_volumes(self) -> tuple[Volumes, list[Grid], dict[str, np.ndarray], int]:
        """Normalised volumes, their grids, the split indices (slices or volumes) and the axis the split refers
        to (-1: split by volume)."""
        hp = self.hparams
        if hp.source == "mni152":
            subject = load_mni152(hp.task)
            self.label_names = subject.label_names
            labels = block_mode(subject.labels, hp.downsample, len(subject.label_names))
            volumes = [(self.preprocess(subject.image.data[None]), labels)]
            grid = Grid(block_affine(subject.image.affine, hp.downsample),
                        tuple(s * hp.downsample for s in subject.image.spacing))
            split = foreground_slab_split(labels, hp.axis, self.fractions, hp.n_cycles, hp.gap)
            return volumes, [grid], split, hp.axis
        if hp.source == "synthetic":
            config = SyntheticConfig(shape=tuple(hp.synthetic_shape), num_classes=hp.synthetic_classes)
            self.label_names = {k: "background" if k == 0 else f"class {k}" for k in range(hp.synthetic_classes)}
            samples = [synthetic_sample(i, config, hp.seed) for i in range(hp.synthetic_samples)]
            samples = [(self.preprocess(x), y) for x, y in samples]
            grids = [UNIT_GRID] * len(samples)
        else:
            cases, self.label_names = load_decathlon(hp.root)
            samples = [(self.preprocess(c.image), c.labels) for c in cases]
            grids = [Grid(c.affine, c.spacing) for c in cases]
        split = index_split(len(samples), self.fractions, hp.seed)
        if hp.spatial_dims == 2 and samples[0][1].ndim == 2:  # independent 2D samples: stack along a last axis
            image = np.stack([x for x, _ in samples], axis=-1)
            return [(image, np.stack([y for _, y in samples], axis=-1))], [UNIT_GRID], split, 2
        return samples, grids, split, -1

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        hp = self.hparams
        volumes, grids, split, axis = self.load_volumes()
        for k, name in enumerate(SPLITS):
            augmentation = self.augmentation if name == "train" else None
            if axis >= 0:  # one set of volumes, split by slices along axis
                parts, indices, self.split_grids[name] = volumes, split[name], grids
                self.split_volumes[name] = [(x[(slice(None),) + region], y[region]) for x, y in volumes
                                            for region in slab_regions(y.ndim, axis, indices)]
            else:  # split by volume
                parts = [volumes[i] for i in split[name]]
                self.split_grids[name] = [grids[i] for i in split[name]]
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

    def split_loader(self, split: str, shuffle: bool) -> DataLoader:
        generator = torch.Generator().manual_seed(self.hparams.seed)
        return DataLoader(self.datasets[split], batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers, generator=generator,
                          collate_fn=FieldCollate(self.num_classes, self.hparams.mask_variant))

    # ------------------------------------------------------------------ sampling, scoring, writing
    def held_out_windows(self) -> list[tuple[tuple, list[int]]]:
        """``(index tuple, position)`` into volume ``sample_volume`` of ``sample_split``, one per slice (2D;
        position ``[slice index]``) or tile (3D; position = lower corner)."""
        hp = self.hparams
        dataset = self.datasets[hp.sample_split]
        if not 0 <= hp.sample_volume < len(dataset.volumes):
            raise ConfigError(f"sample_volume {hp.sample_volume} out of range: the {hp.sample_split} split has "
                              f"{len(dataset.volumes)} volume(s)")
        shape = dataset.volumes[hp.sample_volume][1].shape
        if hp.spatial_dims == 2:
            return [(tuple(i if a == dataset.axis else slice(None) for a in range(3)), [i])
                    for v, i in dataset.items if v == hp.sample_volume]
        starts = [window_starts(s, p, 0.0) for s, p in zip(shape, hp.patch_size, strict=True)]
        windows = []
        for first, last in dataset.runs:
            starts[hp.axis] = [first + s for s in window_starts(last - first, hp.patch_size[hp.axis], 0.0)]
            windows += [(tuple(slice(c, c + p) for c, p in zip(corner, hp.patch_size, strict=True)), list(corner))
                        for corner in product(*starts)]
        return windows

    def sample_template(self, num_samples: int, generator: torch.Generator | None = None,
                        indices: torch.Tensor | None = None
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Held-out slices or tiles of one volume: the first ``num_samples``, or those at the request ``indices``
        (as ``predict`` shards them), see the module docstring."""
        self.setup()
        hp = self.hparams
        windows = self.held_out_windows()
        wanted = list(range(num_samples)) if indices is None else [int(i) for i in indices]
        if not wanted or max(wanted) >= len(windows):
            raise ConfigError(f"num_samples must be in 1..{len(windows)} (the held-out "
                              f"{'slices' if hp.spatial_dims == 2 else 'tiles'} of volume {hp.sample_volume} of "
                              f"the {hp.sample_split} split), got {max(wanted, default=-1) + 1}")
        image, labels = self.datasets[hp.sample_split].volumes[hp.sample_volume]
        images, references, positions = [], [], []
        for window, position in (windows[i] for i in wanted):
            x, y = image[(slice(None),) + window], labels[window]
            if hp.spatial_dims == 2 and hp.slice_size is not None:
                x, y = fit_to_size(x, hp.slice_size), fit_to_size(y, hp.slice_size)
            images.append(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
            references.append(torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)))
            positions.append(torch.tensor(position))
        reference = torch.stack(references)
        mask = encode_mask(reference, self.num_classes, hp.mask_variant)
        context = {"image": torch.stack(images), "reference": reference, "position": torch.stack(positions)}
        return {"mask": torch.zeros_like(mask, dtype=mask.dtype)}, context

    def placed_labels(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor]) -> np.ndarray:
        """The drawn labels on the grid of the sampled volume (0 where nothing was drawn)."""
        hp = self.hparams
        dataset = self.datasets[hp.sample_split]
        shape = dataset.volumes[hp.sample_volume][1].shape
        labels = decode_mask(samples["mask"].cpu(), hp.mask_variant).numpy()
        out = np.zeros(shape, dtype=np.int16)
        for drawn, position in zip(labels, context["position"].cpu().tolist(), strict=True):
            if hp.spatial_dims == 2:
                region = tuple(position[0] if a == dataset.axis else slice(None) for a in range(3))
                out[region] = fit_to_size(drawn, out[region].shape)
            else:
                out[tuple(slice(c, c + p) for c, p in zip(position, hp.patch_size, strict=True))] = drawn
        return out

    def write_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor], path: Path) -> Path:
        """Write the drawn labels placed on the sampled volume's grid as NIfTI (see the module docstring)."""
        grid = self.split_grids[self.hparams.sample_split][self.hparams.sample_volume]
        write_nifti(path, self.placed_labels(samples, context), grid.affine, grid.spacing)
        return Path(path)

    def evaluate_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor]
                         ) -> dict[str, float]:
        """Per-class metrics of the drawn labels against ``context["reference"]`` (see the module docstring)."""
        hp = self.hparams
        drawn = decode_mask(samples["mask"].cpu(), hp.mask_variant).numpy()
        reference = context["reference"].cpu().numpy()
        spacing = self.split_grids[hp.sample_split][hp.sample_volume].spacing
        out: dict[str, float] = {}
        for c in range(1, self.num_classes):
            p, r = drawn == c, reference == c
            if hp.spatial_dims == 2:  # slices stacked along axis 0
                in_plane = tuple(s for a, s in enumerate(spacing) if a != self.datasets[hp.sample_split].axis)
                out.update({f"slice_{k}_c{c}": v for k, v in slice_level(p, r, (1.0, *in_plane), 0).items()})
                both = np.count_nonzero(p) + np.count_nonzero(r)
                out[f"pooled_dice_c{c}"] = 1.0 if both == 0 else float(2 * np.count_nonzero(p & r) / both)
            else:
                per_tile = [pair_metrics(a, b, spacing) for a, b in zip(p, r, strict=True)]
                out.update({f"tile_{k}_c{c}": float(np.mean([m[k] for m in per_tile])) for k in per_tile[0]})
        return out

    def render_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor], path: Path
                       ) -> Path:
        """Overlay of the drawn slice or tile with the most reference foreground."""
        drawn = decode_mask(samples["mask"].cpu(), self.hparams.mask_variant).numpy()
        reference = context["reference"].cpu().numpy()
        best = int(np.argmax(np.count_nonzero(reference.reshape(len(reference), -1), axis=1)))
        write_overlay(path, context["image"][best, 0].cpu().numpy(), reference[best], drawn[best],
                      title=f"drawn sample {best}")
        return Path(path)


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
