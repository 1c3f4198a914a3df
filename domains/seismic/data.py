"""Patch datasets and the Lightning data module for seismic trace reconstruction.

A training example is a pair ``(fields, context)`` of dicts of float32 tensors, each ``[1, D, H, W]`` with
``D`` = inlines, ``H`` = crosslines, ``W`` = time samples (batched by the default collate to ``[B, 1, D, H, W]``):

- ``fields["volume"]``: the true patch, normalised;
- ``context["mask"]``: 1 on observed traces, 0 on missing ones;
- ``context["observed"]``: ``volume * mask`` (missing traces are zero);
- ``context["interpolated"]`` (optional): missing traces filled by linear interpolation, a first guess.

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
import torch
from torch.utils.data import DataLoader, Dataset

from domains.seismic.baselines import linear_interpolation
from domains.seismic.masks import make_mask, random_pattern, volume_mask
from domains.seismic.metrics import reconstruction_metrics
from domains.seismic.plots import plot_reconstruction
from domains.seismic.segy import new_headers, write_segy
from domains.seismic.synthetic import SyntheticConfig, synthetic_volume
from domains.seismic.volume_io import SEGY_SUFFIXES, read_volume
from sciddm.errors import ConfigError, DataError, choose
from sciddm.io import atomic_path
from sciddm.lightning.data import DiffusionDataModule

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


def measurement_context(observed: np.ndarray, mask: np.ndarray, interpolate: bool = False) -> dict[str, np.ndarray]:
    """What a reconstruction is conditioned on, as float32 ``[D, H, W]`` arrays: ``observed`` (missing traces
    zero), ``mask`` (1 observed, 0 missing) and, with ``interpolate``, ``interpolated``: the observed volume
    with missing traces filled by :func:`baselines.linear_interpolation` (trace masks only), a first guess
    the network refines."""
    full_mask = volume_mask(mask, observed.shape)
    zero_filled = np.where(full_mask, observed, 0).astype(np.float32)
    context = {"observed": zero_filled, "mask": full_mask.astype(np.float32)}
    if interpolate:
        if np.ndim(mask) != 2:
            raise ConfigError("the interpolated condition needs a trace mask [n_inlines, n_crosslines]")
        context["interpolated"] = linear_interpolation(zero_filled, mask)
    return context


def make_example(volume: np.ndarray, mask: np.ndarray, normalization: Normalization,
                 interpolate: bool = False) -> Example:
    """The ``(fields, context)`` pair of one normalised patch and its mask (see :func:`measurement_context`)."""
    normalised = np.asarray(normalization.normalise(volume.astype(np.float64)), dtype=np.float32)
    as_tensor = lambda array: torch.from_numpy(np.ascontiguousarray(array))[None]  # noqa: E731
    context = measurement_context(normalised, mask, interpolate)
    return {"volume": as_tensor(normalised)}, {key: as_tensor(value) for key, value in context.items()}


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
    """``length`` synthetic patches of ``patch_shape``; example ``k`` depends only on ``(seed, k)``.

    Each patch is a random crop of a synthetic volume of ``volume_shape`` (default: the patch itself), so a
    model can be trained on patches of volumes as large as the surveys it will reconstruct (the geology's
    lateral scales and fault throws are drawn relative to the volume size). With ``pool_size = 0`` every
    example renders a fresh volume (unlimited data); with ``pool_size = n`` the crops come from ``n`` volumes
    rendered once (seeds ``(seed, "pool", j)``), which is cheaper when volumes are much larger than patches.
    """

    def __init__(self, length: int, patch_shape: Sequence[int], seed: int, masks: MaskSampler,
                 normalization: str = "rms", config: SyntheticConfig | None = None,
                 volume_shape: Sequence[int] | None = None, pool_size: int = 0, interpolate: bool = False):
        self.interpolate = interpolate
        self.length, self.patch_shape, self.seed = length, tuple(patch_shape), seed
        self.volume_shape = tuple(volume_shape) if volume_shape is not None else self.patch_shape
        if len(self.volume_shape) != 3 or any(v < p for v, p in zip(self.volume_shape, self.patch_shape,
                                                                        strict=True)):
            raise ConfigError(f"synthetic volume_shape {self.volume_shape} must be 3D and hold the patch "
                              f"{self.patch_shape}")
        if pool_size < 0:
            raise ConfigError(f"pool_size must be >= 0, got {pool_size}")
        self.masks, self.normalization, self.config, self.pool_size = masks, normalization, config, pool_size
        self._pool: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.length

    def _volume(self, rng: np.random.Generator) -> np.ndarray:
        if self.pool_size == 0:
            return synthetic_volume(self.volume_shape, int(rng.integers(2**63)), self.config)
        j = int(rng.integers(self.pool_size))
        if j not in self._pool:
            seed = int(np.random.default_rng([self.seed, 2**31, j]).integers(2**63))
            self._pool[j] = synthetic_volume(self.volume_shape, seed, self.config)
        return self._pool[j]

    def __getitem__(self, index: int) -> Example:
        rng = np.random.default_rng([self.seed, index])
        volume = self._volume(rng)
        corner = [rng.integers(v - p + 1) for v, p in zip(self.volume_shape, self.patch_shape, strict=True)]
        patch = volume[tuple(slice(c, c + p) for c, p in zip(corner, self.patch_shape, strict=True))]
        mask = self.masks(self.patch_shape[:2], rng)
        return make_example(patch, mask, fit_normalization(patch, mask, self.normalization), self.interpolate)


class VolumePatchDataset(Dataset):
    """``length`` random patches (corner uniform, mask from ``masks``) of the given volumes; example ``k``
    depends only on ``(seed, k)``. Volumes smaller than the patch are rejected naming the file."""

    def __init__(self, volumes: Sequence[np.ndarray], names: Sequence[str], length: int,
                 patch_shape: Sequence[int], seed: int, masks: MaskSampler, normalization: str = "rms",
                 interpolate: bool = False):
        self.patch_shape, self.interpolate = tuple(patch_shape), interpolate
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
        return make_example(patch, mask, fit_normalization(patch, mask, self.normalization), self.interpolate)


class SeismicDataModule(DiffusionDataModule):
    """Training on synthetic volumes (default) or on random patches of your own ``.npy`` / SEG-Y volumes.

    With ``volumes``, training patches come from the first ``1 - val_fraction`` of each volume's inlines and
    validation patches from the rest, so validation is spatially held out. Training, validation and test
    examples use the seeds ``seed``, ``seed + 1`` and ``seed + 2`` (validation and test both from the
    held-out inlines when ``volumes`` are given). Synthetic patches are crops of volumes of
    ``synthetic_volume_shape`` (default: the patch shape), optionally from a pool (see
    :class:`SyntheticPatchDataset`). With ``interpolate`` the context also holds ``interpolated`` (see
    :func:`measurement_context`); the network must then list it in its ``condition_keys``.

    Sampling (``sciddm sample``, validation samples) reconstructs held-out test examples: the template carries
    their ``observed`` traces and ``mask`` plus ``context["index"]``, the example each row came from, so
    :meth:`evaluate_samples` can score the samples against the true patches (normalised units).
    """

    sample_suffix = ".npy"

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
        synthetic_volume_shape: tuple[int, int, int] | None = None,
        synthetic_pool_size: int = 0,
        interpolate: bool = False,
        num_workers: int = 0,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if len(patch_shape) != 3 or min(patch_shape) < 1:
            raise ConfigError(f"patch_shape must be three positive sizes, got {patch_shape}")
        choose(normalization, NORMALIZATIONS, "normalization")
        self.save_hyperparameters()
        self.masks = MaskSampler(mask_pattern, mask_options)
        self.test_set: Dataset | None = None

    def _dataset(self, length: int, seed: int, part: str) -> Dataset:
        hp = self.hparams
        if not hp.volumes:
            return SyntheticPatchDataset(length, hp.patch_shape, seed, self.masks, hp.normalization,
                                         volume_shape=hp.synthetic_volume_shape, pool_size=hp.synthetic_pool_size,
                                         interpolate=hp.interpolate)
        volumes = [read_volume(path) for path in hp.volumes]
        split = [round(len(v) * (1 - hp.val_fraction)) for v in volumes]
        parts = [v[:s] if part == "train" else v[s:] for v, s in zip(volumes, split, strict=True)]
        names = [f"{Path(p)} ({part} inlines)" for p in hp.volumes]
        return VolumePatchDataset(parts, names, length, hp.patch_shape, seed, self.masks, hp.normalization,
                                  hp.interpolate)

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        self.train_set = self._dataset(hp.train_size, hp.seed, "train")
        self.val_set = self._dataset(hp.val_size, hp.seed + 1, "val")
        self.test_set = self._dataset(hp.test_size, hp.seed + 2, "val")

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, shuffle=False)

    # ------------------------------------------------------------------ sampling, scoring, writing
    def _test_examples(self, indices: Sequence[int]) -> list[Example]:
        if self.test_set is None:
            self.setup("predict")
        return [self.test_set[int(i)] for i in indices]

    def sample_template(self, num_samples: int, generator: torch.Generator | None = None
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """``num_samples`` test examples drawn with ``generator``: zero volumes shaped like the patches, and
        the examples' ``observed``, ``mask`` and ``index``."""
        indices = torch.randint(self.hparams.test_size, (num_samples,), generator=generator)
        contexts = [context for _, context in self._test_examples(indices)]
        context = {key: torch.stack([c[key] for c in contexts]) for key in contexts[0]}
        return {"volume": torch.zeros_like(context["observed"])}, {**context, "index": indices}

    def _truth(self, context: dict[str, torch.Tensor]) -> np.ndarray:
        return torch.stack([fields["volume"] for fields, _ in self._test_examples(context["index"])]).numpy()

    def evaluate_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor]
                         ) -> dict[str, float]:
        """Mean over samples of :func:`metrics.reconstruction_metrics` against the true test patches."""
        truth = self._truth(context)[:, 0]
        volumes = samples["volume"].detach().cpu().float().numpy()[:, 0]
        masks = context["mask"].cpu().numpy()[:, 0] > 0.5
        per_sample = [reconstruction_metrics(x, y, m) for x, y, m in zip(volumes, truth, masks, strict=True)]
        return {key: float(np.mean([m[key] for m in per_sample])) for key in per_sample[0]}

    def write_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor], path: Path) -> Path:
        """``.npy``: ``[N, D, H, W]`` float32 (normalised units). ``.sgy`` / ``.segy``: the N patches side by
        side along the inline axis (inline ``k * D + i + 1`` is inline ``i`` of sample ``k``) with fresh SEG-Y
        rev 1 headers (IEEE floats), since patches carry no headers of their own."""
        path = Path(path)
        volumes = samples["volume"].detach().cpu().float().numpy()[:, 0]
        if path.suffix.lower() in SEGY_SUFFIXES:
            stacked = volumes.reshape(-1, *volumes.shape[2:])
            write_segy(path, stacked, new_headers(stacked.shape[:2], stacked.shape[2]))
        elif path.suffix.lower() == ".npy":
            with atomic_path(path) as tmp:
                np.save(tmp, volumes)
        else:
            raise ConfigError(f"{path}: seismic samples are written as .npy, .sgy or .segy")
        return path

    def render_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor], path: Path
                       ) -> Path:
        """Slices of the first sample: observed, reconstructed, true and difference (:mod:`plots`)."""
        truth = self._truth({"index": context["index"][:1]})[0, 0]
        mask = context["mask"][0, 0].cpu().numpy() > 0.5
        plot_reconstruction(path, truth, context["observed"][0, 0].cpu().numpy(),
                            samples["volume"][0, 0].detach().cpu().float().numpy(), mask)
        return Path(path)
