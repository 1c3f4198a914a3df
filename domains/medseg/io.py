"""NIfTI reading and writing that keeps the voxel-to-world affine and the voxel spacing.

A :class:`Volume` is the array in the file's own voxel order (no reorientation: metrics and masks stay aligned
with the image they were drawn on), the 4x4 affine mapping voxel indices to world millimetres, and the voxel
spacing in millimetres (the header's ``pixdim``, i.e. ``nibabel``'s ``header.get_zooms()``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from sciddm.errors import DataError
from sciddm.io import atomic_write

NIFTI_SUFFIXES = (".nii", ".nii.gz")


@dataclass(frozen=True)
class Volume:
    """An image or mask on a voxel grid: ``data`` [X, Y, Z] (or [X, Y, Z, C]), ``affine`` 4x4, ``spacing`` mm."""

    data: np.ndarray
    affine: np.ndarray
    spacing: tuple[float, ...]


def is_nifti(path: str | Path) -> bool:
    """True when the file name ends in ``.nii`` or ``.nii.gz``."""
    return str(path).endswith(NIFTI_SUFFIXES)


def read_nifti(path: str | Path, ndim: int | tuple[int, ...] = 3) -> Volume:
    """Read a NIfTI file, checking that the array has ``ndim`` dimensions (an int or a tuple of allowed ones).

    A trailing singleton 4th axis (common in exported masks) is dropped when 3 dimensions are expected.
    Raises :class:`DataError` naming the file when it is missing, unreadable or of the wrong dimensionality.
    """
    path = Path(path)
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if not path.is_file():
        raise DataError(path, "no such NIfTI file")
    try:
        image = nib.load(str(path))
        data = np.asanyarray(image.dataobj)
    except Exception as exc:  # nibabel raises many types for corrupt or foreign files
        raise DataError(path, f"cannot be read as NIfTI ({type(exc).__name__}: {exc})") from None
    if data.ndim == 4 and data.shape[3] == 1 and 3 in allowed and 4 not in allowed:
        data = data[..., 0]
    if data.ndim not in allowed:
        expected = " or ".join(f"{d}D" for d in allowed)
        raise DataError(path, f"expected a {expected} image, found {data.ndim}D with shape {data.shape}")
    spacing = tuple(float(z) for z in image.header.get_zooms()[:3])
    return Volume(data=np.asarray(data), affine=np.asarray(image.affine, dtype=np.float64), spacing=spacing)


def write_nifti(path: str | Path, data: np.ndarray, affine: np.ndarray, spacing: tuple[float, ...] | None = None):
    """Write ``data`` with ``affine`` atomically; the header's zooms are ``spacing`` (default: from the affine).

    Integer arrays (label maps) are stored as integers so that labels survive a round trip exactly.
    """
    data = np.asarray(data)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    image = nib.Nifti1Image(data, np.asarray(affine, dtype=np.float64))
    if spacing is not None:
        image.header.set_zooms(tuple(spacing) + image.header.get_zooms()[len(spacing):])
    payload = image.to_bytes()  # serialised in memory: the ".nii.gz" double suffix needs no temporary name
    if str(path).endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=6)
    with atomic_write(path, "wb") as handle:
        handle.write(payload)


def check_same_grid(image: Volume, mask: Volume, image_path: str | Path, mask_path: str | Path,
                    atol: float = 1e-3) -> None:
    """Raise :class:`DataError` naming both files unless image and mask share spatial shape and affine."""
    if image.data.shape[:3] != mask.data.shape[:3]:
        raise DataError(mask_path, f"mask shape {mask.data.shape[:3]} does not match image {image_path} "
                                   f"shape {image.data.shape[:3]}")
    if not np.allclose(image.affine, mask.affine, atol=atol):
        raise DataError(mask_path, f"mask affine differs from the affine of image {image_path} "
                                   f"(max difference {np.abs(image.affine - mask.affine).max():.4g})")
