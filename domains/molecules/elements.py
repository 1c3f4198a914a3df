"""Chemical vocabulary: element symbols, bond-type codes and the class alphabets of the categorical fields.

Bond types are stored as small integers everywhere in this package (fields, files, metrics):
``0`` no bond, ``1`` single, ``2`` double, ``3`` triple, ``4`` aromatic. For valence counting an aromatic bond
is worth 1.5 only in the naive sum; :mod:`domains.molecules.valence` counts it exactly through a Kekule
assignment.
"""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem

NO_BOND, SINGLE, DOUBLE, TRIPLE, AROMATIC = 0, 1, 2, 3, 4
BOND_TYPE_NAMES = ("none", "single", "double", "triple", "aromatic")
NUM_BOND_TYPES = len(BOND_TYPE_NAMES)

RDKIT_BOND_TYPES = {
    SINGLE: Chem.BondType.SINGLE,
    DOUBLE: Chem.BondType.DOUBLE,
    TRIPLE: Chem.BondType.TRIPLE,
    AROMATIC: Chem.BondType.AROMATIC,
}
BOND_CODES = {rdkit_type: code for code, rdkit_type in RDKIT_BOND_TYPES.items()}

QM9_ELEMENTS = ("H", "C", "N", "O", "F")
DEFAULT_CHARGES = (-1, 0, 1)

_PERIODIC_TABLE = Chem.GetPeriodicTable()
ATOMIC_NUMBERS = {_PERIODIC_TABLE.GetElementSymbol(z): z for z in range(1, 119)}


def normalise_symbol(symbol: str) -> str | None:
    """Return the canonical spelling of an element symbol (``"CL"`` -> ``"Cl"``) or ``None`` if unknown."""
    candidate = symbol.strip().capitalize()
    return candidate if candidate in ATOMIC_NUMBERS else None


@dataclass(frozen=True)
class Vocabulary:
    """Class alphabets of the categorical fields.

    ``atom_types`` holds indices into ``elements``; ``charges`` holds indices into ``charges`` (so with the
    default ``(-1, 0, 1)`` a neutral atom has charge class 1). Bond classes are the fixed codes above.
    """

    elements: tuple[str, ...] = QM9_ELEMENTS
    charges: tuple[int, ...] = DEFAULT_CHARGES

    def __post_init__(self):
        unknown = [e for e in self.elements if e not in ATOMIC_NUMBERS]
        if unknown:
            raise ValueError(f"unknown element symbols in vocabulary: {unknown}")
        if 0 not in self.charges:
            raise ValueError("the charge alphabet must contain 0")

    @property
    def num_atom_types(self) -> int:
        return len(self.elements)

    @property
    def num_charges(self) -> int:
        return len(self.charges)
