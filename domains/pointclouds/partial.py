"""Partial inputs for completion and upsampling, cut from full clouds in the model's (normalised) frame.

* :func:`half_space_cut`: a partial view. The ``n_known`` points with the largest projection ``x . d`` on a unit
  direction ``d``, i.e. the part of the cloud beyond a plane orthogonal to ``d`` placed so that exactly
  ``n_known`` points remain (ties broken by the point order). Deterministic given ``d``; like PVD's
  completion benchmark the missing part is a contiguous region, not a random thinning.
* :func:`random_subset`: ``n_known`` points drawn without replacement (upsampling: a sparse but
  unbiased sample of the same surface).

Both take a set of clouds ``[M, N, 3]`` and return ``[M, n_known, 3]``.
"""

from __future__ import annotations

import numpy as np

from sciddm.errors import ConfigError


def _check_known(clouds: np.ndarray, n_known: int) -> None:
    if clouds.ndim != 3 or clouds.shape[-1] != 3:
        raise ConfigError(f"expected clouds [M, N, 3], got shape {list(clouds.shape)}")
    if not 1 <= n_known <= clouds.shape[1]:
        raise ConfigError(f"n_known must be in [1, {clouds.shape[1]}], got {n_known}")


def random_directions(count: int, seed: int) -> np.ndarray:
    """``count`` unit vectors uniform on the sphere (normalised standard normals), seeded."""
    vectors = np.random.default_rng(seed).standard_normal((count, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def half_space_cut(clouds: np.ndarray, directions: np.ndarray, n_known: int) -> np.ndarray:
    """Per cloud, the ``n_known`` points farthest along its direction (``directions`` [M, 3] or one [3])."""
    clouds = np.asarray(clouds, dtype=np.float64)
    _check_known(clouds, n_known)
    directions = np.broadcast_to(np.asarray(directions, dtype=np.float64), (len(clouds), 3))
    projection = np.einsum("mnk,mk->mn", clouds, directions)
    order = np.argsort(-projection, axis=1, kind="stable")[:, :n_known]
    return np.take_along_axis(clouds, order[..., None], axis=1)


def random_subset(clouds: np.ndarray, n_known: int, seed: int) -> np.ndarray:
    """Per cloud, ``n_known`` of its points without replacement, seeded."""
    clouds = np.asarray(clouds, dtype=np.float64)
    _check_known(clouds, n_known)
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(clouds.shape[1], n_known, replace=False) for _ in range(len(clouds))])
    return np.take_along_axis(clouds, picks[..., None], axis=1)
