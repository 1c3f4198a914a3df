"""Atom and molecule stability: does every atom have an allowed valence?

The valence of an atom is the sum of the orders of its bonds (single 1, double 2, triple 3). Two checks:

**EDM stability** (Hoogeboom et al., 2022): bonds inferred from distances (:mod:`bond_inference`, never
aromatic), charges ignored; an atom is stable iff its valence is in ``NEUTRAL_VALENCES[element]``; a molecule
is stable iff all its atoms are. (EDM's table allows only 4 for S; we allow 2, 4, 6.)

**Charge-aware stability** (MiDi, Vignac et al., 2023; EQGAT-diff, Le et al., 2024) on *given* bonds and
formal charges: an atom is stable iff its valence is in ``CHARGED_VALENCES[(element, charge)]``. Aromatic bonds
are counted exactly rather than as 1.5 (which would make pyrrole's N-H valence 4 and furan's O valence 3):
an atom with ``s`` summed non-aromatic orders and ``a`` aromatic bonds has valence ``s + a + k`` where
``k = 1`` if one of its aromatic bonds is double in a Kekule structure and ``k = 0`` otherwise. The atom is
stable iff some ``k in {0, 1}`` (``k <= a``) gives an allowed valence; the molecule is stable iff every atom
is stable *and* a Kekule structure exists: a matching on the aromatic bonds that covers every atom that needs
``k = 1`` and no atom that needs ``k = 0`` (a maximum-weight matching decides this exactly).
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from domains.molecules.bond_inference import infer_bond_matrix
from domains.molecules.elements import AROMATIC
from domains.molecules.molecule import Molecule

NEUTRAL_VALENCES: dict[str, frozenset[int]] = {
    element: frozenset(values) for element, values in {
        "H": (1,), "C": (4,), "N": (3,), "O": (2,), "F": (1,), "B": (3,), "Al": (3,), "Si": (4,),
        "P": (3, 5), "S": (2, 4, 6), "Cl": (1,), "As": (3,), "Br": (1,), "I": (1,),
    }.items()
}

_CHARGE_SHIFTED = {
    ("H", 1): (0,), ("H", -1): (0,),
    ("B", -1): (4,),
    ("C", 1): (3,), ("C", -1): (3,),
    ("N", 1): (4,), ("N", -1): (2,),
    ("O", 1): (3,), ("O", -1): (1,),
    ("F", -1): (0,), ("Cl", -1): (0,), ("Br", -1): (0,), ("I", -1): (0,),
    ("P", 1): (4,), ("P", -1): (2,),
    ("S", 1): (3,), ("S", -1): (1,),
}
CHARGED_VALENCES: dict[tuple[str, int], frozenset[int]] = {
    **{(element, 0): values for element, values in NEUTRAL_VALENCES.items()},
    **{key: frozenset(values) for key, values in _CHARGE_SHIFTED.items()},
}


def edm_atom_stability(molecule: Molecule) -> np.ndarray:
    """[n] bool: EDM atom stability with bonds inferred from the geometry (charges ignored)."""
    valence = infer_bond_matrix(molecule.elements, molecule.positions).sum(axis=1)
    return np.array([v in NEUTRAL_VALENCES.get(e, ()) for e, v in zip(molecule.elements, valence, strict=True)])


def _kekule_requirements(molecule: Molecule, matrix: np.ndarray) -> list[frozenset[int]]:
    """Per atom, the set of admissible ``k`` (0: no aromatic double bond, 1: one)."""
    aromatic = (matrix == AROMATIC).sum(axis=1)
    plain = np.where(matrix == AROMATIC, 0, matrix).sum(axis=1)
    options = []
    for element, charge, s, a in zip(molecule.elements, molecule.charges, plain, aromatic, strict=True):
        allowed = CHARGED_VALENCES.get((element, int(charge)), frozenset())
        options.append(frozenset(k for k in range(min(1, a) + 1) if s + a + k in allowed))
    return options


def charged_atom_stability(molecule: Molecule) -> np.ndarray:
    """[n] bool: charge-aware atom stability on the given bonds (aromatic bonds counted exactly)."""
    if molecule.bonds is None:
        raise ValueError("charge-aware stability needs given bonds")
    return np.array([bool(k) for k in _kekule_requirements(molecule, molecule.bond_matrix())])


def charged_molecule_stability(molecule: Molecule) -> bool:
    """All atoms stable and a Kekule assignment of the aromatic bonds exists (see module docstring)."""
    matrix = molecule.bond_matrix()
    options = _kekule_requirements(molecule, matrix)
    if not all(options):
        return False
    must = {i for i, k in enumerate(options) if k == {1}}
    free = {i for i, k in enumerate(options) if k == {0, 1}}
    graph = nx.Graph()
    for i, j in zip(*np.nonzero(np.triu(matrix == AROMATIC, k=1)), strict=True):
        if {int(i), int(j)} <= must | free:
            graph.add_edge(int(i), int(j), weight=int(i in must) + int(j in must))
    matching = nx.max_weight_matching(graph)
    covered = {v for edge in matching for v in edge}
    return must <= covered
