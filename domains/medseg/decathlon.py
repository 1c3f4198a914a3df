"""Loader for the user's own image/mask NIfTI pairs in the Medical Segmentation Decathlon layout.

Layout (Antonelli et al., Nature Communications 2022)::

    ROOT/dataset.json          {"modality": {"0": "T1", ...}, "labels": {"0": "background", "1": ...},
                                "training": [{"image": "./imagesTr/a.nii.gz", "label": "./labelsTr/a.nii.gz"}]}
    ROOT/imagesTr/a.nii.gz     3D [X, Y, Z] for one modality, 4D [X, Y, Z, C] for C modalities
    ROOT/labelsTr/a.nii.gz     3D integer label map on the same grid (same shape and affine)

Without ``dataset.json`` the images in ``imagesTr`` are paired with the same file names in ``labelsTr`` and a
single modality is assumed. Every inconsistency raises :class:`DataError` naming the offending file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from domains.medseg.io import NIFTI_SUFFIXES, check_same_grid, is_nifti, read_nifti
from sciddm.errors import DataError


@dataclass(frozen=True)
class Case:
    """One training case: ``image`` [C, X, Y, Z] float32, ``labels`` [X, Y, Z] int64, grid and source files."""

    name: str
    image: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    spacing: tuple[float, ...]
    image_path: Path
    label_path: Path


def case_name(path: Path) -> str:
    """File name without the NIfTI suffix."""
    for suffix in NIFTI_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.stem


def read_manifest(root: Path) -> tuple[list[tuple[Path, Path]], int, dict[int, str] | None]:
    """Image/label pairs, number of modalities and declared labels (None when not declared)."""
    manifest = root / "dataset.json"
    if not manifest.is_file():
        images = sorted(p for p in (root / "imagesTr").glob("*") if is_nifti(p))
        if not images:
            raise DataError(root, "no dataset.json and no NIfTI files in imagesTr/")
        return [(p, root / "labelsTr" / p.name) for p in images], 1, None
    try:
        spec = json.loads(manifest.read_text())
        pairs = [(root / item["image"], root / item["label"]) for item in spec["training"]]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(manifest, f"not a Decathlon manifest ({type(exc).__name__}: {exc})") from None
    modalities = len(spec.get("modality", {"0": "image"}))
    labels = {int(k): str(v) for k, v in spec["labels"].items()} if "labels" in spec else None
    return pairs, modalities, labels


def load_case(image_path: Path, label_path: Path, modalities: int, labels: dict[int, str] | None) -> Case:
    """Read and check one pair (dimensionality, grid, integer labels within the declared set)."""
    image = read_nifti(image_path, ndim=3 if modalities == 1 else 4)
    if modalities > 1 and image.data.shape[3] != modalities:
        raise DataError(image_path, f"{image.data.shape[3]} modalities along axis 4, dataset.json declares "
                                    f"{modalities}")
    mask = read_nifti(label_path, ndim=3)
    check_same_grid(image, mask, image_path, label_path)
    values = np.asarray(mask.data, dtype=np.float64)
    if not np.all(values == np.rint(values)):
        raise DataError(label_path, "label map contains non-integer values")
    found = set(np.unique(values).astype(int).tolist())
    if labels is not None and not found <= set(labels):
        raise DataError(label_path, f"labels {sorted(found - set(labels))} not declared in dataset.json")
    data = image.data.astype(np.float32)
    channels = data[None] if data.ndim == 3 else np.moveaxis(data, 3, 0)
    return Case(case_name(image_path), np.ascontiguousarray(channels), values.astype(np.int64), image.affine,
                image.spacing, image_path, label_path)


def load_decathlon(root: str | Path) -> tuple[list[Case], dict[int, str]]:
    """All training cases under ``root`` and the label names (from dataset.json, or the values found)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "Decathlon root folder does not exist")
    pairs, modalities, labels = read_manifest(root)
    cases = [load_case(image, label, modalities, labels) for image, label in pairs]
    if labels is None:
        found = sorted(set().union(*(np.unique(c.labels).tolist() for c in cases)))
        labels = {int(v): "background" if v == 0 else f"label {v}" for v in found}
    return cases, labels
