"""Area-weighted sampling of points on the surface of a triangle mesh.

A point uniform on the surface is drawn in two steps: pick triangle ``f`` with probability
``area_f / sum(area)``, then a uniform point in it from barycentric coordinates
``(1 - sqrt(r1), sqrt(r1) (1 - r2), sqrt(r1) r2)`` with ``r1, r2 ~ U(0, 1)`` (Osada et al., "Shape
distributions", ACM TOG 2002, eq. 1). The result is exactly uniform with respect to surface area.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domains.pointclouds.io import Mesh
from sciddm.errors import DataError


def triangle_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area of each triangle: half the norm of the cross product of two edges."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def sample_surface(mesh: Mesh, n_points: int, rng: np.random.Generator, source: str | Path = "mesh") -> np.ndarray:
    """Draw ``n_points`` points uniformly (by area) from the surface of ``mesh``; ``source`` names it in errors."""
    if len(mesh.faces) == 0:
        raise DataError(source, "mesh has no faces, so there is no surface to sample points from")
    areas = triangle_areas(mesh.vertices, mesh.faces)
    total = areas.sum()
    if not total > 0:
        raise DataError(source, "all faces of the mesh have zero area")
    chosen = mesh.faces[rng.choice(len(areas), size=n_points, p=areas / total)]
    r1, r2 = np.sqrt(rng.random((n_points, 1))), rng.random((n_points, 1))
    a, b, c = (mesh.vertices[chosen[:, k]] for k in range(3))
    return (1 - r1) * a + r1 * (1 - r2) * b + r1 * r2 * c
