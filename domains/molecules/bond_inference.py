"""Bonds from inter-atomic distances, following EDM (Hoogeboom et al., 2022, appendix on QM9 evaluation).

For atoms a, b at distance d (in pm), with tabulated typical lengths L1 (single), L2 (double), L3 (triple)
for the element pair and margins m1 = 10, m2 = 5, m3 = 3 pm::

    order = 0  if d >= L1 + m1           (or the pair has no single-bond entry)
          = 1  if d <  L1 + m1 and not (d < L2 + m2)
          = 2  if d <  L2 + m2 and not (d < L3 + m3)
          = 3  if d <  L3 + m3

A missing L2 / L3 entry means the pair never gets that order. Lengths are the standard covalent bond lengths
(as in EDM's table, taken from common chemistry references); we add S=O (143 pm), which EDM's table lacks.
Aromatic bonds are never inferred: a benzene ring comes out as alternating single and double bonds when its
geometry allows, which is the EDM convention.
"""

from __future__ import annotations

import numpy as np

from domains.molecules.molecule import Molecule, bonds_from_matrix

MARGINS_PM = (10.0, 5.0, 3.0)

_SINGLE = {
    "H": {"H": 74, "C": 109, "N": 101, "O": 96, "F": 92, "B": 119, "Si": 148, "P": 144, "S": 134,
          "Cl": 127, "Br": 141, "I": 161},
    "C": {"C": 154, "N": 147, "O": 143, "F": 135, "Si": 185, "P": 184, "S": 182, "Cl": 177, "Br": 194,
          "I": 214},
    "N": {"N": 145, "O": 140, "F": 136, "Cl": 175, "Br": 214, "S": 168, "I": 222, "P": 177},
    "O": {"O": 148, "F": 142, "Br": 172, "S": 151, "P": 163, "Si": 163, "Cl": 164, "I": 194},
    "F": {"F": 142, "S": 158, "Si": 160, "Cl": 166, "Br": 178, "P": 156, "I": 187},
    "B": {"Cl": 175},
    "Si": {"Si": 233, "Cl": 202, "Br": 215},
    "P": {"P": 221, "S": 210, "Cl": 203},
    "S": {"S": 204, "Cl": 207},
    "Cl": {"Cl": 199},
    "Br": {"Br": 228},
    "I": {"I": 266},
}
_DOUBLE = {
    "C": {"C": 134, "N": 129, "O": 120, "S": 160},
    "N": {"N": 125, "O": 121},
    "O": {"O": 121, "P": 150, "S": 143},
    "P": {"S": 186},
}
_TRIPLE = {
    "C": {"C": 120, "N": 116, "O": 113},
    "N": {"N": 110},
}


def _symmetric(table: dict[str, dict[str, int]]) -> dict[tuple[str, str], float]:
    pairs = {}
    for a, row in table.items():
        for b, length in row.items():
            pairs[(a, b)] = pairs[(b, a)] = float(length)
    return pairs


BOND_LENGTHS_PM = tuple(_symmetric(t) for t in (_SINGLE, _DOUBLE, _TRIPLE))


def _thresholds(elements: list[str], table: dict[tuple[str, str], float], margin: float) -> np.ndarray:
    """[n, n] matrix of L + margin in Angstrom, -inf where the pair has no entry."""
    kinds, index = np.unique(np.array(elements), return_inverse=True)
    small = np.array([[table.get((a, b), -np.inf) for b in kinds] for a in kinds], dtype=float)
    return ((small + margin) / 100.0)[index[:, None], index[None, :]]


def infer_bond_matrix(elements: list[str], positions: np.ndarray) -> np.ndarray:
    """Dense symmetric [n, n] matrix of inferred bond orders (0..3) by the EDM rule above."""
    distances = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    below = [distances < _thresholds(elements, table, margin)
             for table, margin in zip(BOND_LENGTHS_PM, MARGINS_PM, strict=True)]
    order = below[0] * (1 + below[1] * (1 + below[2]))
    np.fill_diagonal(order, 0)
    return order.astype(np.int64)


def infer_bonds(molecule: Molecule) -> Molecule:
    """A copy of ``molecule`` whose bonds are inferred from its geometry (charges kept)."""
    return molecule.with_bonds(bonds_from_matrix(infer_bond_matrix(molecule.elements, molecule.positions)))
