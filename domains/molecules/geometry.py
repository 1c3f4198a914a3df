"""Bond-length and bond-angle distributions and their Wasserstein-1 distances to a reference set.

Following MiDi (Vignac et al., 2023), distributions are compared per class and averaged with the class
frequencies of the *reference* set as weights:

* bond lengths (Angstrom), classes = bond types (single, double, triple, aromatic)::

      W1_len = sum_b w_b * W1(lengths_gen[b], lengths_ref[b]),   w_b = n_ref[b] / sum_b' n_ref[b']

* bond angles (degrees) at every atom with two or more bonds, one angle per pair of its bonds,
  classes = element of the central atom; same weighting.

Only classes present in both sets enter the sums (weights renormalised over them); with no shared class the
distance is ``None``. ``W1`` is the 1-D earth mover's distance (``scipy.stats.wasserstein_distance``).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy.stats import wasserstein_distance

from domains.molecules.molecule import Molecule


def bond_lengths(molecules: list[Molecule]) -> dict[int, np.ndarray]:
    """Bond lengths grouped by bond type code; molecules need bonds."""
    groups = defaultdict(list)
    for molecule in molecules:
        for i, j, kind in molecule.bonds:
            groups[int(kind)].append(np.linalg.norm(molecule.positions[i] - molecule.positions[j]))
    return {kind: np.array(values) for kind, values in groups.items()}


def bond_angles(molecules: list[Molecule]) -> dict[str, np.ndarray]:
    """Angles (degrees) between pairs of bonds at a shared atom, grouped by the central atom's element."""
    groups = defaultdict(list)
    for molecule in molecules:
        neighbours = defaultdict(list)
        for i, j, _ in molecule.bonds:
            neighbours[int(i)].append(int(j))
            neighbours[int(j)].append(int(i))
        for centre, others in neighbours.items():
            if len(others) < 2:
                continue
            vectors = molecule.positions[others] - molecule.positions[centre]
            vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
            a, b = np.triu_indices(len(others), k=1)
            cosines = np.clip((vectors[a] * vectors[b]).sum(axis=1), -1.0, 1.0)
            groups[molecule.elements[centre]].extend(np.degrees(np.arccos(cosines)))
    return {element: np.array(values) for element, values in groups.items()}


def weighted_w1(generated: dict, reference: dict) -> float | None:
    """Reference-frequency-weighted mean of per-class W1 distances over the shared, non-empty classes."""
    shared = [k for k in reference if len(reference[k]) and len(generated.get(k, ()))]
    if not shared:
        return None
    weights = np.array([len(reference[k]) for k in shared], dtype=float)
    distances = np.array([wasserstein_distance(generated[k], reference[k]) for k in shared])
    return float((weights * distances).sum() / weights.sum())
