"""Synthetic 3D seismic volumes in the style used to train fault and interpolation networks.

The recipe follows Wu, Liang, Shi & Fomel, "FaultSeg3D", *Geophysics* 84(3), 2019 (section "Training data"):

1. **Reflectivity**: a 1D series ``r(z)`` of independent draws uniform in ``[-1, 1]``, one per time sample and
   linearly interpolated between samples, laterally constant (flat layers).
2. **Folding** by Gaussian bumps that grow with depth plus a planar shear:
   ``s(x, y, z) = a0 + 1.5 z / n_t * sum_k b_k exp(-((x - c_k)^2 + (y - d_k)^2) / (2 sigma_k^2)) + e0 + f x + g y``
   and the folded model is ``r(z + s(x, y, z))``.
3. **Faults**, applied one after the other: a plane through a centre point with strike ``phi`` (angle of the
   fault trace from the inline axis) and dip ``theta`` (from horizontal). Points above the plane (hanging wall)
   move along the down-dip direction ``u = cos(theta) (-sin phi, cos phi, 0) + sin(theta) e_z`` by a slip whose
   vertical component (the throw) is ``throw * exp(-(a^2 + b^2) / (2 w^2))``, with ``(a, b)`` the along-strike
   and along-dip distances from the centre and ``w`` the fault extent. A positive throw is a normal fault, a
   negative one a reverse fault.
4. **Convolution** of every trace with a Ricker wavelet ``w(t) = (1 - 2 pi^2 f^2 t^2) exp(-pi^2 f^2 t^2)`` of
   random peak frequency ``f``, computed on a time window extended by the wavelet half-length so the volume has
   no edge artefacts; the result is scaled to unit RMS.
5. **Noise**: white Gaussian noise of standard deviation ``noise_level`` (relative to the unit RMS signal).

Coordinates are in samples: ``x`` the inline index, ``y`` the crossline index, ``z`` the time sample (down).
Volumes are rendered by mapping every output point back through the inverse of each deformation (last fault
first, then the folding) and reading the reflectivity there, so no 3D resampling blurs the result. Everything
random is drawn from ``numpy.random.default_rng(seed)``: the same seed gives the same volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from sciddm.errors import ConfigError


@dataclass(frozen=True)
class SyntheticConfig:
    """Ranges the random geology is drawn from. Lengths are fractions of the volume size (see each field)."""

    n_bumps: tuple[int, int] = (2, 6)
    bump_amplitude: float = 0.08  # max |b_k| as a fraction of n_t
    bump_width: tuple[float, float] = (0.15, 0.4)  # sigma_k as a fraction of max(n_x, n_y)
    max_shear: float = 0.15  # max |f|, |g| in time samples per trace
    n_faults: tuple[int, int] = (1, 3)
    dip_degrees: tuple[float, float] = (55.0, 80.0)
    throw: tuple[float, float] = (0.03, 0.1)  # |throw| as a fraction of n_t
    reverse_fault_probability: float = 0.3
    fault_extent: float = 1.0  # Gaussian taper width w as a fraction of max(n_x, n_y, n_t)
    peak_frequency_hz: tuple[float, float] = (20.0, 45.0)
    sample_interval_ms: float = 4.0
    noise_level: tuple[float, float] = (0.0, 0.1)

    def __post_init__(self) -> None:
        for name in ("n_bumps", "bump_width", "n_faults", "dip_degrees", "throw", "peak_frequency_hz",
                     "noise_level"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ConfigError(f"synthetic {name} must be a range 0 <= low <= high, got {(low, high)}")
        if self.dip_degrees[1] > 90 or self.dip_degrees[0] <= 0:
            raise ConfigError(f"synthetic dip_degrees must lie in (0, 90], got {self.dip_degrees}")
        nyquist = 500.0 / self.sample_interval_ms
        if self.peak_frequency_hz[1] >= nyquist or self.peak_frequency_hz[0] <= 0:
            raise ConfigError(f"synthetic peak_frequency_hz must lie in (0, {nyquist}) Hz (Nyquist)")


@dataclass(frozen=True)
class Fold:
    """Vertical shift ``s(x, y, z)`` of step 2; ``bumps`` rows are ``(b_k, c_k, d_k, sigma_k)``."""

    offset: float
    bumps: np.ndarray
    shear: tuple[float, float]
    depth_scale: float

    def shift(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        bumps = np.zeros_like(x)
        for amplitude, cx, cy, sigma in self.bumps:
            bumps += amplitude * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
        return self.offset + 1.5 * z / self.depth_scale * bumps + self.shear[0] * x + self.shear[1] * y


@dataclass(frozen=True)
class Fault:
    """A planar fault of step 3 (angles in radians, lengths in samples)."""

    centre: tuple[float, float, float]
    strike: float
    dip: float
    throw: float
    extent: float

    def undo(self, points: np.ndarray) -> np.ndarray:
        """Where each point of the faulted volume was before this fault moved it (``points`` is ``[..., 3]``)."""
        along_strike = np.array([math.cos(self.strike), math.sin(self.strike), 0.0])
        down_dip = np.array([-math.sin(self.strike) * math.cos(self.dip),
                             math.cos(self.strike) * math.cos(self.dip), math.sin(self.dip)])
        normal = np.cross(along_strike, down_dip)  # points down: normal . e_z = cos(dip) > 0
        offset = points - np.asarray(self.centre)
        hanging_wall = offset @ normal < 0
        a, b = offset @ along_strike, offset @ down_dip
        slip = self.throw / math.sin(self.dip) * np.exp(-(a**2 + b**2) / (2 * self.extent**2))
        return points - (hanging_wall * slip)[..., None] * down_dip


@dataclass(frozen=True)
class Geology:
    """All random choices behind one volume; :func:`render` turns them into samples deterministically."""

    reflectivity: np.ndarray  # r at integer depths first_depth, first_depth + 1, ...
    first_depth: int
    fold: Fold
    faults: tuple[Fault, ...]
    peak_frequency: float  # cycles per sample
    noise_level: float
    noise_seed: int


def ricker(peak_frequency: float, half_length: int) -> np.ndarray:
    """Ricker wavelet sampled at ``t = -half_length .. half_length`` (``peak_frequency`` in cycles/sample)."""
    t = np.arange(-half_length, half_length + 1, dtype=np.float64)
    arg = (math.pi * peak_frequency * t) ** 2
    return (1 - 2 * arg) * np.exp(-arg)


def wavelet_half_length(peak_frequency: float) -> int:
    """Samples either side of the peak where the Ricker envelope exceeds exp(-pi^2 * 2.25) ~ 2e-10."""
    return math.ceil(1.5 / peak_frequency)


def draw_geology(shape: tuple[int, int, int], rng: np.random.Generator, config: SyntheticConfig) -> Geology:
    """Draw the random model of steps 1-5 for a volume of ``shape = (n_x, n_y, n_t)``."""
    n_x, n_y, n_t = shape
    lateral = max(n_x, n_y)
    n_bumps = rng.integers(config.n_bumps[0], config.n_bumps[1] + 1)
    bumps = np.column_stack([
        rng.uniform(-1, 1, n_bumps) * config.bump_amplitude * n_t,
        rng.uniform(0, n_x, n_bumps),
        rng.uniform(0, n_y, n_bumps),
        rng.uniform(*config.bump_width, n_bumps) * lateral,
    ])
    fold = Fold(offset=0.0, bumps=bumps, shear=tuple(rng.uniform(-config.max_shear, config.max_shear, 2)),
                depth_scale=float(n_t))
    faults = []
    for _ in range(rng.integers(config.n_faults[0], config.n_faults[1] + 1)):
        sign = -1.0 if rng.uniform() < config.reverse_fault_probability else 1.0
        faults.append(Fault(
            centre=(rng.uniform(0, n_x), rng.uniform(0, n_y), rng.uniform(0, n_t)),
            strike=rng.uniform(0, 2 * math.pi),
            dip=math.radians(rng.uniform(*config.dip_degrees)),
            throw=sign * rng.uniform(*config.throw) * n_t,
            extent=config.fault_extent * max(lateral, n_t),
        ))
    peak_frequency = rng.uniform(*config.peak_frequency_hz) * config.sample_interval_ms / 1000
    margin = _depth_margin(shape, config) + wavelet_half_length(peak_frequency)
    return Geology(
        reflectivity=rng.uniform(-1, 1, n_t + 2 * margin + 1),
        first_depth=-margin,
        fold=fold,
        faults=tuple(faults),
        peak_frequency=peak_frequency,
        noise_level=rng.uniform(*config.noise_level),
        noise_seed=int(rng.integers(2**63)),
    )


def _depth_margin(shape: tuple[int, int, int], config: SyntheticConfig) -> int:
    """A bound on how far above or below the volume a point can be mapped by folding and faults."""
    n_x, n_y, n_t = shape
    folding = 1.5 * config.bump_amplitude * n_t * config.n_bumps[1] + config.max_shear * (n_x + n_y)
    faulting = config.n_faults[1] * config.throw[1] * n_t
    return math.ceil(folding + faulting) + 1


def render(geology: Geology, shape: tuple[int, int, int]) -> np.ndarray:
    """Samples ``[n_x, n_y, n_t]`` (float32) of the volume described by ``geology``."""
    n_x, n_y, n_t = shape
    half = wavelet_half_length(geology.peak_frequency)
    points = np.stack(np.meshgrid(np.arange(n_x), np.arange(n_y), np.arange(-half, n_t + half),
                                  indexing="ij"), axis=-1).astype(np.float64)
    for fault in reversed(geology.faults):
        points = fault.undo(points)
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    source_depth = z + geology.fold.shift(x, y, z)
    depths = geology.first_depth + np.arange(len(geology.reflectivity))
    model = np.interp(source_depth, depths, geology.reflectivity)
    wavelet = ricker(geology.peak_frequency, half)
    clean = fftconvolve(model, wavelet[None, None, :], mode="valid", axes=2)
    clean /= np.sqrt(np.mean(clean**2))
    noise = np.random.default_rng(geology.noise_seed).standard_normal(clean.shape)
    return (clean + geology.noise_level * noise).astype(np.float32)


def synthetic_volume(
    shape: tuple[int, int, int], seed: int, config: SyntheticConfig | None = None
) -> np.ndarray:
    """One random synthetic volume ``[n_inlines, n_crosslines, n_samples]``; deterministic in ``seed``."""
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError(f"synthetic volume shape must be three positive sizes, got {shape}")
    shape = tuple(int(s) for s in shape)
    return render(draw_geology(shape, np.random.default_rng(seed), config or SyntheticConfig()), shape)
