"""The PointFlow ShapeNet layout (Yang et al. 2019, ``ShapeNetCore.v2.PC15k``), for users who have the data.

Layout: ``ROOT/<synset id>/<split>/<model id>.npy`` with ``split`` in ``train``, ``val``, ``test`` and each file
a [15000, 3] array of surface points. Categories are given by name (see :data:`SYNSETS`) or synset id. Each
shape is subsampled to ``n_points`` points without replacement, reproducibly from ``seed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domains.pointclouds.io import read_npy
from sciddm.errors import ConfigError, DataError

SYNSETS = {
    "airplane": "02691156", "car": "02958343", "chair": "03001627", "table": "04379243",
    "sofa": "04256520", "lamp": "03636649", "rifle": "04090263", "vessel": "04530566",
}  # fmt: skip
SPLITS = ("train", "val", "test")


def synset_id(category: str) -> str:
    """The synset id of a category name, or the argument itself when it is already an 8-digit id."""
    if category in SYNSETS:
        return SYNSETS[category]
    if len(category) == 8 and category.isdigit():
        return category
    raise ConfigError(f"unknown ShapeNet category {category!r}; use a synset id or one of: {', '.join(SYNSETS)}")


def list_shapenet(root: str | Path, categories: list[str], split: str) -> list[tuple[Path, int]]:
    """(file, label) for every shape of ``categories`` in ``split``; label = position in ``categories``."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    found = []
    for label, category in enumerate(categories):
        folder = Path(root) / synset_id(category) / split
        files = sorted(folder.glob("*.npy")) if folder.is_dir() else []
        if not files:
            raise DataError(folder, f"no .npy shapes for category {category!r} (expected ROOT/<synset>/{split}/*.npy)")
        found += [(file, label) for file in files]
    return found


def load_shapenet(
    root: str | Path, categories: list[str], split: str, n_points: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Clouds [M, n_points, 3] and labels [M] of the listed shapes, each subsampled without replacement."""
    rng = np.random.default_rng(seed)
    clouds, labels = [], []
    for file, label in list_shapenet(root, categories, split):
        points = read_npy(file)
        if points.ndim != 2 or len(points) < n_points:
            raise DataError(file, f"need one cloud of at least {n_points} points, got shape {list(points.shape)}")
        clouds.append(points[rng.choice(len(points), n_points, replace=False)])
        labels.append(label)
    return np.stack(clouds), np.array(labels, dtype=np.int64)
