"""Classical trace interpolation: the baselines a learned reconstruction has to beat.

Both take the observed volume ``[n_inlines, n_crosslines, n_samples]`` and a mask (trace ``[n_il, n_xl]`` or
full, True = observed), keep the observed samples unchanged and fill the missing ones.

- :func:`linear_interpolation`: at every time sample, piecewise-linear interpolation on the Delaunay
  triangulation of the live trace positions (so a missing trace is a weighted mean of its neighbouring live
  traces; between two live traces of a line it is ordinary linear interpolation), and the nearest live trace
  outside their convex hull (everywhere, when the live traces are collinear and cannot be triangulated).
- :func:`pocs_interpolation`: projection onto convex sets with a 3D Fourier sparsity constraint (Abma & Kabir,
  "3D interpolation of irregular data with a POCS algorithm", *Geophysics* 71(6), 2006):
  ``x_{k+1} = d + (1 - M) * F^-1 T_k F x_k`` where ``d`` is the observed data, ``M`` the mask and ``T_k`` keeps
  the Fourier coefficients whose amplitude is at least ``tau_k``. The thresholds decay exponentially
  (Gao, Chen & Sacchi, *Geophysical Prospecting* 58, 2010):
  ``tau_k = tau_max (tau_min / tau_max)^(k / (N - 1))`` for ``k = 0 .. N-1``, with
  ``tau_max = 0.99 max|F d|`` and ``tau_min = 0.001 max|F d|`` by default.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay, QhullError, cKDTree

from domains.seismic.masks import volume_mask
from sciddm.errors import ConfigError


def linear_interpolation(observed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Fill missing traces linearly from their neighbouring live traces (trace masks only)."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != observed.shape[:2]:
        raise ConfigError(f"linear interpolation needs a trace mask of shape {observed.shape[:2]}, got {mask.shape}")
    if not mask.any():
        raise ConfigError("cannot interpolate a volume without any live trace")
    result = np.array(observed, dtype=np.float64)
    live, dead = np.argwhere(mask), np.argwhere(~mask)
    if len(dead) == 0:
        return result.astype(observed.dtype)
    values = result[mask]
    filled = np.full((len(dead), values.shape[1]), np.nan)
    try:
        triangulation = Delaunay(live)
    except QhullError:  # live traces all on one line: no triangulation, use the nearest live trace
        triangulation = None
    if triangulation is not None:
        simplex = triangulation.find_simplex(dead)
        inside = simplex >= 0
        transform = triangulation.transform[simplex[inside]]  # affine map to barycentric coordinates
        partial = np.einsum("nij,nj->ni", transform[:, :2], dead[inside] - transform[:, 2])
        weights = np.column_stack([partial, 1 - partial.sum(axis=1)])
        vertices = triangulation.simplices[simplex[inside]]
        filled[inside] = np.einsum("nk,nkt->nt", weights, values[vertices])
    outside = np.isnan(filled[:, 0])
    if outside.any():
        filled[outside] = values[cKDTree(live).query(dead[outside])[1]]
    result[~mask] = filled
    return result.astype(observed.dtype)


def pocs_thresholds(spectrum_max: float, n_iterations: int, max_fraction: float = 0.99,
                    min_fraction: float = 1e-3) -> np.ndarray:
    """Exponentially decaying thresholds ``tau_0 = max_fraction * spectrum_max`` ... ``min_fraction * ...``."""
    if n_iterations < 1 or not 0 < min_fraction <= max_fraction <= 1:
        raise ConfigError("POCS needs n_iterations >= 1 and 0 < min_fraction <= max_fraction <= 1")
    if n_iterations == 1:
        return np.array([min_fraction * spectrum_max])
    exponents = np.arange(n_iterations) / (n_iterations - 1)
    return max_fraction * spectrum_max * (min_fraction / max_fraction) ** exponents


def pocs_interpolation(observed: np.ndarray, mask: np.ndarray, n_iterations: int = 100,
                       max_fraction: float = 0.99, min_fraction: float = 1e-3) -> np.ndarray:
    """Fourier POCS reconstruction (see the module docstring); observed samples are kept exactly."""
    keep = volume_mask(mask, observed.shape)
    data = np.where(keep, observed, 0.0).astype(np.float64)
    shape = data.shape
    thresholds = pocs_thresholds(np.abs(np.fft.rfftn(data)).max(), n_iterations, max_fraction, min_fraction)
    estimate = data
    for threshold in thresholds:
        spectrum = np.fft.rfftn(estimate)
        spectrum[np.abs(spectrum) < threshold] = 0
        estimate = np.where(keep, data, np.fft.irfftn(spectrum, s=shape))
    return estimate.astype(observed.dtype)
