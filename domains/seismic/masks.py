"""Missing-trace patterns and mask files.

A *trace mask* is a boolean array ``[n_inlines, n_crosslines]``: True where the trace was recorded (observed),
False where it is missing. It applies to every time sample of the trace (``observed = volume * mask[..., None]``).
A full ``[n_inlines, n_crosslines, n_samples]`` mask is also accepted from files, for sample-level gaps.

Patterns (all deterministic; the random ones take an explicit seed):

- ``random``: exactly ``round(missing_fraction * n_traces)`` traces missing, chosen uniformly without
  replacement;
- ``decimation``: every ``factor``-th line kept along ``axis`` (0: inlines, 1: crosslines), starting at
  ``offset``; the others are missing;
- ``gap``: ``width`` consecutive lines missing along ``axis``, starting at ``start`` (centred when None);
- ``inlines``: exactly ``round(missing_fraction * n_inlines)`` whole inlines missing, chosen at random.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sciddm.errors import ConfigError, DataError, choose
from sciddm.io import atomic_write


def random_traces(grid: tuple[int, int], missing_fraction: float, seed: int) -> np.ndarray:
    """Drop ``round(missing_fraction * n_traces)`` traces chosen uniformly at random."""
    _check_fraction(missing_fraction)
    mask = np.ones(grid[0] * grid[1], dtype=bool)
    n_missing = round(missing_fraction * mask.size)
    mask[np.random.default_rng(seed).choice(mask.size, size=n_missing, replace=False)] = False
    return mask.reshape(grid)


def regular_decimation(grid: tuple[int, int], factor: int, axis: int = 1, offset: int = 0) -> np.ndarray:
    """Keep lines ``offset, offset + factor, ...`` along ``axis``; drop all others."""
    _check_axis(axis)
    if factor < 1 or not 0 <= offset < factor:
        raise ConfigError(f"decimation needs factor >= 1 and 0 <= offset < factor, got {factor}, {offset}")
    keep = np.arange(grid[axis]) % factor == offset
    return np.broadcast_to(keep[:, None] if axis == 0 else keep[None, :], grid).copy()


def contiguous_gap(grid: tuple[int, int], width: int, axis: int = 1, start: int | None = None) -> np.ndarray:
    """Drop ``width`` consecutive lines along ``axis`` starting at ``start`` (centred when None)."""
    _check_axis(axis)
    if start is None:
        start = (grid[axis] - width) // 2
    if width < 1 or start < 0 or start + width > grid[axis]:
        raise ConfigError(f"gap of width {width} at {start} does not fit {grid[axis]} lines along axis {axis}")
    keep = np.ones(grid[axis], dtype=bool)
    keep[start : start + width] = False
    return np.broadcast_to(keep[:, None] if axis == 0 else keep[None, :], grid).copy()


def missing_inlines(grid: tuple[int, int], missing_fraction: float, seed: int) -> np.ndarray:
    """Drop ``round(missing_fraction * n_inlines)`` whole inlines chosen uniformly at random."""
    _check_fraction(missing_fraction)
    keep = np.ones(grid[0], dtype=bool)
    keep[np.random.default_rng(seed).choice(grid[0], size=round(missing_fraction * grid[0]), replace=False)] = False
    return np.broadcast_to(keep[:, None], grid).copy()


PATTERNS = {
    "random": random_traces,
    "decimation": regular_decimation,
    "gap": contiguous_gap,
    "inlines": missing_inlines,
}


def make_mask(pattern: str, grid: tuple[int, int], **options) -> np.ndarray:
    """Build a trace mask by pattern name (see the module docstring for the options of each)."""
    try:
        return choose(pattern, PATTERNS, "mask pattern")(tuple(grid), **options)
    except TypeError as error:
        raise ConfigError(f"mask pattern {pattern!r}: {error}") from None


def _check_fraction(fraction: float) -> None:
    if not 0 <= fraction <= 1:
        raise ConfigError(f"missing_fraction must lie in [0, 1], got {fraction}")


def _check_axis(axis: int) -> None:
    if axis not in (0, 1):
        raise ConfigError(f"mask axis must be 0 (inlines) or 1 (crosslines), got {axis}")


def save_mask(path: str | Path, mask: np.ndarray) -> None:
    """Write a mask as a boolean ``.npy`` file, atomically."""
    with atomic_write(path, "wb") as handle:
        np.save(handle, np.asarray(mask, dtype=bool))


def load_mask(path: str | Path, volume_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Read a ``.npy`` mask (bool, or numbers that are all 0 or 1) and check it fits ``volume_shape``.

    Returns a boolean trace mask ``[n_inlines, n_crosslines]`` or a full mask of the volume's shape.
    """
    path = Path(path)
    try:
        mask = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise DataError(path, f"not a readable .npy mask ({error})") from None
    if mask.dtype != bool:
        if not (np.issubdtype(mask.dtype, np.number) and np.isin(mask, (0, 1)).all()):
            raise DataError(path, f"mask must be boolean or contain only 0 and 1 (dtype {mask.dtype})")
        mask = mask.astype(bool)
    if volume_shape is not None and mask.shape not in (tuple(volume_shape), tuple(volume_shape[:2])):
        raise DataError(
            path,
            f"mask shape {mask.shape} fits neither the volume {tuple(volume_shape)} nor its trace grid "
            f"{tuple(volume_shape[:2])}",
        )
    return mask


def volume_mask(mask: np.ndarray, volume_shape: tuple[int, int, int]) -> np.ndarray:
    """A trace mask or full mask broadcast to the volume's shape (boolean)."""
    mask = np.asarray(mask, dtype=bool)
    return np.broadcast_to(mask[..., None] if mask.ndim == 2 else mask, volume_shape)


def random_pattern(grid: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A training mask from a pattern chosen uniformly with random parameters.

    ``random``: missing_fraction ~ U[0.1, 0.7]; ``decimation``: factor in {2, 3, 4} along a random axis with a
    random offset; ``gap``: width ~ U{1 .. max(1, n // 3)} lines at a random start along a random axis;
    ``inlines``: missing_fraction ~ U[0.1, 0.5].
    """
    seed = int(rng.integers(2**63))
    pattern = rng.choice(sorted(PATTERNS))
    if pattern == "random":
        return random_traces(grid, rng.uniform(0.1, 0.7), seed)
    if pattern == "inlines":
        return missing_inlines(grid, rng.uniform(0.1, 0.5), seed)
    axis = int(rng.integers(2))
    if pattern == "decimation":
        factor = int(rng.integers(2, 5))
        return regular_decimation(grid, factor, axis, int(rng.integers(factor)))
    width = int(rng.integers(1, max(1, grid[axis] // 3) + 1))
    return contiguous_gap(grid, width, axis, int(rng.integers(grid[axis] - width + 1)))
