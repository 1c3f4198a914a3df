"""Normalisation of point clouds. The numbers every metric reports depend on it, so it is always explicit.

Per-shape modes act on each cloud ``[N, 3]`` alone (a set ``[M, N, 3]`` is done cloud by cloud):

* ``none``: positions as read.
* ``unit_sphere``: subtract the centroid (mean point), divide by the largest distance to it, so the cloud
  lies in the unit ball and touches its boundary (PointFlow's ``normalize_per_shape``; Yang et al. 2019).
* ``unit_box``: subtract the centre of the axis-aligned bounding box, divide by half its longest side, so the
  cloud fits in ``[-1, 1]^3`` and touches two opposite faces (the bounding-box normalisation LION applies
  before evaluation; Zeng et al. 2022).

The global mode (:class:`GlobalStandardizer`) is fitted on a training set: one mean per axis over all points
of all shapes and one scalar standard deviation over all coordinates, ``x' = (x - mean) / std`` (PointFlow's
default for generation, ``normalize_std_per_axis=False``, also used by PVD). Generated samples are mapped back
with :meth:`GlobalStandardizer.inverse` before they are compared with reference shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sciddm.errors import choose


def _per_cloud(points: np.ndarray, one) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    return one(points) if points.ndim == 2 else np.stack([one(cloud) for cloud in points])


def _unit_sphere(cloud: np.ndarray) -> np.ndarray:
    centred = cloud - cloud.mean(axis=0)
    radius = np.linalg.norm(centred, axis=1).max()
    return centred / radius if radius > 0 else centred


def _unit_box(cloud: np.ndarray) -> np.ndarray:
    low, high = cloud.min(axis=0), cloud.max(axis=0)
    half = (high - low).max() / 2
    centred = cloud - (low + high) / 2
    return centred / half if half > 0 else centred


PER_SHAPE = {"none": lambda cloud: cloud, "unit_sphere": _unit_sphere, "unit_box": _unit_box}


def normalize(points: np.ndarray, mode: str) -> np.ndarray:
    """Apply the per-shape normalisation ``mode`` (``none``, ``unit_sphere`` or ``unit_box``)."""
    return _per_cloud(points, choose(mode, PER_SHAPE, "normalization"))


@dataclass(frozen=True)
class GlobalStandardizer:
    """``x' = (x - mean) / std`` with ``mean`` per axis ``[3]`` and ``std`` one scalar, fitted on a set."""

    mean: np.ndarray
    std: float

    @classmethod
    def fit(cls, clouds: np.ndarray) -> GlobalStandardizer:
        """Fit on a set ``[M, N, 3]`` (or one cloud): mean over all points, std over all coordinates."""
        flat = np.asarray(clouds, dtype=np.float64).reshape(-1, 3)
        mean = flat.mean(axis=0)
        return cls(mean=mean, std=float((flat - mean).std()))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, dtype=np.float64) - self.mean) / self.std

    def inverse(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, dtype=np.float64) * self.std + self.mean
