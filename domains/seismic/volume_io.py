"""Read a 3D volume ``[n_inlines, n_crosslines, n_samples]`` from a ``.npy`` or SEG-Y file, chosen by suffix."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domains.seismic.segy import read_segy
from sciddm.errors import DataError

SEGY_SUFFIXES = (".sgy", ".segy")


def read_volume(path: str | Path) -> np.ndarray:
    """The samples of a ``.npy`` (3D, numeric, finite) or ``.sgy`` / ``.segy`` file as float32."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SEGY_SUFFIXES:
        volume = read_segy(path).data
    elif suffix == ".npy":
        try:
            volume = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DataError(path, f"not a readable .npy volume ({error})") from None
    else:
        raise DataError(path, f"unknown volume format {suffix!r}; use .npy, .sgy or .segy")
    if volume.ndim != 3 or not np.issubdtype(volume.dtype, np.number):
        raise DataError(path, f"expected a numeric 3D volume, got dtype {volume.dtype} and shape {volume.shape}")
    if not np.isfinite(volume).all():
        first = np.argwhere(~np.isfinite(volume))[0]
        raise DataError(path, f"non-finite sample at index {tuple(int(i) for i in first)}")
    return volume.astype(np.float32, copy=False)
