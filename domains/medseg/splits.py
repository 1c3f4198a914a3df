"""Region-based splits: whole slabs of slices go to train, validation or test, never random voxels.

Voxels of one image are strongly correlated with their neighbours, so a voxel- or patch-level random split leaks
the test set into training. :func:`slab_split` cuts one axis of the volume into ``n_cycles`` equal cycles; each
cycle is cut into consecutive slabs whose lengths are proportional to the split fractions (``n_cycles=1``:
e.g. the lowest 70% of slices train, the next 15% validate, the top 15% test). With ``gap > 0``, slices closer
than ``gap`` to a slice of another split are discarded, so slices of different splits are at least
``2 * gap + 1`` apart.
"""

from __future__ import annotations

import numpy as np

from sciddm.errors import ConfigError


def slab_split(length: int, fractions: dict[str, float], n_cycles: int = 1, gap: int = 0) -> dict[str, np.ndarray]:
    """Slice indices in ``range(length)`` for each split name in ``fractions`` (see the module docstring)."""
    if length < 1 or n_cycles < 1 or gap < 0:
        raise ConfigError(f"need length >= 1, n_cycles >= 1, gap >= 0; got {length}, {n_cycles}, {gap}")
    weights = np.array(list(fractions.values()), dtype=np.float64)
    if np.any(weights < 0) or weights.sum() <= 0:
        raise ConfigError(f"split fractions must be non-negative with a positive sum, got {fractions}")
    bounds = np.cumsum(np.concatenate([[0.0], weights / weights.sum()]))
    position = (np.arange(length) + 0.5) / length * n_cycles % 1.0
    owner = np.searchsorted(bounds, position, side="right") - 1
    keep = np.ones(length, dtype=bool)
    for shift in range(1, gap + 1):
        keep[shift:] &= owner[shift:] == owner[:-shift]
        keep[:-shift] &= owner[:-shift] == owner[shift:]
    return {name: np.flatnonzero(keep & (owner == k)) for k, name in enumerate(fractions)}


def contiguous_runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs ``[start, stop)`` of consecutive integers in sorted ``indices``."""
    if len(indices) == 0:
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1)
    starts = np.concatenate([[indices[0]], indices[breaks + 1]])
    stops = np.concatenate([indices[breaks] + 1, [indices[-1] + 1]])
    return [(int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
