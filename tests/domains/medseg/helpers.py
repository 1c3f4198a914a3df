"""Small shapes with known geometry for the medseg tests."""

from __future__ import annotations

import numpy as np


def ball(shape: tuple[int, ...], centre: tuple[float, ...], radius: float) -> np.ndarray:
    """Boolean ball ``|x - centre| <= radius`` on the voxel grid."""
    grid = np.indices(shape, dtype=np.float64)
    return sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2


def box(shape: tuple[int, ...], low: tuple[int, ...], high: tuple[int, ...]) -> np.ndarray:
    """Boolean box ``low <= x < high``."""
    mask = np.zeros(shape, dtype=bool)
    mask[tuple(slice(a, b) for a, b in zip(low, high, strict=True))] = True
    return mask
