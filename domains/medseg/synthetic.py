"""Synthetic 2D/3D images with known masks: textured shapes, partial-volume blur, a bias field and noise.

Image formation for one sample, in order (all randomness from ``numpy.random.default_rng([seed, index])``, so
sample ``index`` is the same whatever the number of samples requested):

1. **Labels.** ``n ~ U{shapes_min..shapes_max}`` shapes are painted in turn (later ones on top) onto a zero
   background. Each is a randomly rotated ellipse/ellipsoid ``(x-c)^T R diag(a)^-2 R^T (x-c) <= 1`` or an
   axis-aligned box ``|x_i - c_i| <= a_i``, with semi-axes ``a_i ~ U[radius_min, radius_max] * min(shape)``,
   centre ``c`` uniform such that the axis-aligned extent fits, and class ``~ U{1..num_classes-1}``.
2. **Piecewise-constant intensity** ``mu[label]`` with ``mu_0 = background`` and
   ``mu_k = background + contrast * k / (num_classes - 1)``.
3. **Texture:** ``+ texture_std * g``, ``g`` white noise smoothed by a Gaussian of ``texture_sigma`` voxels and
   rescaled to unit standard deviation (spatially correlated, like tissue heterogeneity).
4. **Partial volume:** Gaussian blur of ``blur_sigma`` voxels (the scanner's point-spread function).
5. **Bias field:** multiplied by ``exp(bias_strength * p(x))``, ``p`` a random quadratic polynomial of the
   coordinates scaled to [-1, 1] with ``max |p| = 1`` (the low-order polynomial model of Van Leemput et al.,
   IEEE TMI 1999).
6. **Noise:** ``+ noise_std * N(0, 1)`` i.i.d. per voxel.

The masks are exact by construction; with texture, blur, bias and noise all zero, thresholding the image half-way
between two class intensities recovers the mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
from scipy import ndimage

from sciddm.errors import ConfigError


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the generator (see the module docstring for their role)."""

    shape: tuple[int, ...] = (64, 64)
    num_classes: int = 2
    shapes_min: int = 1
    shapes_max: int = 3
    radius_min: float = 0.1
    radius_max: float = 0.25
    background: float = 0.2
    contrast: float = 0.5
    texture_std: float = 0.05
    texture_sigma: float = 2.0
    blur_sigma: float = 0.7
    bias_strength: float = 0.3
    noise_std: float = 0.05

    def __post_init__(self):
        if len(self.shape) not in (2, 3):
            raise ConfigError(f"synthetic shape must be 2D or 3D, got {self.shape}")
        if self.num_classes < 2:
            raise ConfigError(f"num_classes must be >= 2, got {self.num_classes}")
        if not 1 <= self.shapes_min <= self.shapes_max:
            raise ConfigError(f"need 1 <= shapes_min <= shapes_max, got {self.shapes_min}, {self.shapes_max}")
        if not 0 < self.radius_min <= self.radius_max < 0.5:
            raise ConfigError(f"need 0 < radius_min <= radius_max < 0.5, got {self.radius_min}, {self.radius_max}")


def random_rotation(rng: np.random.Generator, ndim: int) -> np.ndarray:
    """A uniformly random rotation matrix (QR of a Gaussian matrix with the sign fix of Mezzadri 2007)."""
    q, r = np.linalg.qr(rng.standard_normal((ndim, ndim)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def paint_shapes(rng: np.random.Generator, config: SyntheticConfig) -> np.ndarray:
    """Step 1: the integer label map."""
    shape = np.array(config.shape)
    coords = np.stack(np.meshgrid(*[np.arange(s, dtype=np.float64) for s in shape], indexing="ij"), axis=-1)
    labels = np.zeros(config.shape, dtype=np.int64)
    for _ in range(rng.integers(config.shapes_min, config.shapes_max + 1)):
        semi = rng.uniform(config.radius_min, config.radius_max, size=len(shape)) * shape.min()
        centre = rng.uniform(semi, shape - 1 - semi)
        offset = coords - centre
        if rng.random() < 0.5:
            local = offset @ random_rotation(rng, len(shape))
            inside = np.sum((local / semi) ** 2, axis=-1) <= 1.0
        else:
            inside = np.all(np.abs(offset) <= semi, axis=-1)
        labels[inside] = rng.integers(1, config.num_classes)
    return labels


def bias_field(rng: np.random.Generator, shape: tuple[int, ...], strength: float) -> np.ndarray:
    """Step 5: ``exp(strength * p)``, ``p`` a random quadratic in coordinates scaled to [-1, 1], max |p| = 1."""
    axes = np.meshgrid(*[np.linspace(-1.0, 1.0, s) for s in shape], indexing="ij")
    monomials = [np.prod([axes[i] for i in combo], axis=0) for degree in (1, 2)
                 for combo in combinations_with_replacement(range(len(shape)), degree)]
    poly = sum(rng.standard_normal() * m for m in monomials)
    return np.exp(strength * poly / max(np.abs(poly).max(), 1e-12))


def render_image(rng: np.random.Generator, labels: np.ndarray, config: SyntheticConfig) -> np.ndarray:
    """Steps 2-6: the image of one label map."""
    means = config.background + config.contrast * np.arange(config.num_classes) / (config.num_classes - 1)
    image = means[labels]
    if config.texture_std > 0:
        texture = ndimage.gaussian_filter(rng.standard_normal(labels.shape), config.texture_sigma)
        image = image + config.texture_std * texture / max(texture.std(), 1e-12)
    if config.blur_sigma > 0:
        image = ndimage.gaussian_filter(image, config.blur_sigma)
    if config.bias_strength > 0:
        image = image * bias_field(rng, labels.shape, config.bias_strength)
    if config.noise_std > 0:
        image = image + config.noise_std * rng.standard_normal(labels.shape)
    return image.astype(np.float32)


def synthetic_sample(index: int, config: SyntheticConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``index``: image [1, *shape] float32 and labels [*shape] int64."""
    rng = np.random.default_rng([seed, index])
    labels = paint_shapes(rng, config)
    return render_image(rng, labels, config)[None], labels


def synthetic_dataset(n: int, config: SyntheticConfig, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples stacked: images [n, 1, *shape] and labels [n, *shape]."""
    pairs = [synthetic_sample(i, config, seed) for i in range(n)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])
