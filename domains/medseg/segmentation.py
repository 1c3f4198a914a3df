"""Segmenting whole images: K-sample diffusion ensembles, fusion, per-voxel uncertainty, slices and windows.

For an image ``[C, *spatial]`` already preprocessed as in training (:meth:`MedSegDataModule.preprocess`):

1. **Walking the image** (:func:`predict_image`). A 2D model segments a 3D image slice by slice along ``axis``
   (``batch_size`` slices per call; a 2D image is one slice). A 3D model, and a 2D model trained on fixed
   ``slice_size`` crops, is run by sliding windows of the training size
   (:func:`domains.medseg.inference.sliding_window`: ``overlap``, Gaussian blending); a fully convolutional 2D
   model trained on whole slices sees whole slices (no window).
2. **Drawing an ensemble** (:class:`EnsembleSampler`). Every batch of B images is repeated K times and sampled
   once by :meth:`DiffusionModule.sample` with the module's few-step sampler (NFE per draw = the sampler's, e.g.
   10 Euler/DDIM steps on the linear-flow path), the K initial noises coming from one generator seeded with
   ``seed``, so the same seed and batch size give the same result. Each draw becomes class probabilities
   (:func:`domains.medseg.transforms.mask_probabilities`). With sliding windows each member is blended across
   windows on its own.
3. **Fusion** (:func:`domains.medseg.ensemble.fuse`: ``mean``, ``majority`` or ``staple``) over the K members of
   every voxel; the uncertainty is the normalised predictive entropy of the fused probabilities, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from domains.medseg.ensemble import fuse, predictive_entropy
from domains.medseg.inference import sliding_window
from domains.medseg.transforms import mask_probabilities
from sciddm.errors import ConfigError
from sciddm.lightning.module import DiffusionModule
from sciddm.sampling import Sampler

Predictor = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Walk:
    """How an image is cut for a model: ``spatial_dims`` of the model, the slice ``axis`` for 2D models on 3D
    images, the window size (None: whole slices), window ``overlap`` and images per call."""

    spatial_dims: int
    axis: int = 2
    window: tuple[int, ...] | None = None
    overlap: float = 0.5
    batch_size: int = 8


def predict_image(image: np.ndarray, predict: Predictor, walk: Walk) -> np.ndarray:
    """Run ``predict`` ([B, C, *window] -> [B, M, *window]) over ``image`` [C, *spatial]; return [M, *spatial].

    See the module docstring, step 1.
    """
    image = np.asarray(image, dtype=np.float32)
    spatial = image.ndim - 1
    if walk.spatial_dims == 3 and spatial != 3:
        raise ConfigError(f"a 3D model needs a 3D image, got spatial shape {image.shape[1:]}")
    if walk.window is not None and len(walk.window) != walk.spatial_dims:
        raise ConfigError(f"window {walk.window} does not match a {walk.spatial_dims}D model")

    def run(batch: Tensor) -> Tensor:
        if walk.window is None:
            return predict(batch)
        return sliding_window(batch, walk.window, predict, overlap=walk.overlap, batch_size=walk.batch_size)

    if walk.spatial_dims == 3 or spatial == 2:  # one volume, or one 2D image
        return run(torch.from_numpy(image)[None])[0].numpy()
    slices = torch.from_numpy(np.moveaxis(image, walk.axis + 1, 0).copy())  # [S, C, a, b]
    outputs = [run(slices[i: i + walk.batch_size]) for i in range(0, len(slices), walk.batch_size)]
    return np.moveaxis(torch.cat(outputs).numpy(), 0, walk.axis + 1)


class EnsembleSampler:
    """``__call__(images [B, C, *S]) -> [B, K * C_classes, *S]``: K diffusion draws as class probabilities.

    Member ``k`` occupies channels ``k * C_classes .. (k + 1) * C_classes - 1``. ``nfe`` is the number of
    network evaluations of one draw (all K members of a batch are drawn by the same calls).
    """

    def __init__(self, module: DiffusionModule, ensemble: int = 5, sampler: Sampler | None = None, seed: int = 0,
                 field: str = "mask", condition: str = "image"):
        if ensemble < 1:
            raise ConfigError(f"ensemble size must be >= 1, got {ensemble}")
        network = module.network
        self.module, self.ensemble, self.sampler = module, ensemble, sampler or module.sampler
        self.field, self.condition = field, condition
        self.num_classes = network.num_classes
        self.variant = "categorical" if network.categorical else "continuous"
        self.generator = torch.Generator(device=module.device).manual_seed(seed)
        self.nfe = 0

    def __call__(self, images: Tensor) -> Tensor:
        count = len(images)
        images = images.to(self.module.device).repeat(self.ensemble, *([1] * (images.ndim - 1)))
        channels = 1 if self.variant == "categorical" or self.num_classes == 2 else self.num_classes
        dtype = torch.long if self.variant == "categorical" else torch.float32
        template = {self.field: torch.zeros((len(images), channels, *images.shape[2:]), dtype=dtype,
                                            device=images.device)}
        samples, self.nfe = self.module.sample(template, {self.condition: images}, self.sampler, self.generator)
        probabilities = mask_probabilities(samples[self.field].cpu(), self.variant, self.num_classes)
        members = probabilities.reshape(self.ensemble, count, self.num_classes, *images.shape[2:])
        return members.transpose(0, 1).reshape(count, self.ensemble * self.num_classes, *images.shape[2:])


@dataclass
class Segmentation:
    """Fused ``labels`` [*S] (int64), fused ``probabilities`` [C, *S], ``uncertainty`` [*S] in [0, 1] and the
    ensemble ``members`` [K, C, *S] (class probabilities of each draw)."""

    labels: np.ndarray
    probabilities: np.ndarray
    uncertainty: np.ndarray
    members: np.ndarray


def fuse_members(members: np.ndarray, fusion: str = "mean") -> Segmentation:
    """Fuse ``[K, C, *S]`` member probabilities and attach the predictive-entropy uncertainty."""
    labels, probabilities = fuse(members, fusion)
    return Segmentation(labels.astype(np.int64), probabilities, predictive_entropy(probabilities), members)


def segment_image(image: np.ndarray, draw: EnsembleSampler, walk: Walk, fusion: str = "mean") -> Segmentation:
    """Ensemble segmentation of one preprocessed image [C, *spatial] (the whole procedure of the module docstring)."""
    stacked = predict_image(image, draw, walk)
    members = stacked.reshape(draw.ensemble, draw.num_classes, *stacked.shape[1:])
    return fuse_members(members.astype(np.float64), fusion)
