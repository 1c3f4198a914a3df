"""A plain, format-independent molecule record and its conversion to and from RDKit.

A :class:`Molecule` is what readers return and writers, metrics and rewards consume. Bonds are an integer
array of rows ``(i, j, type)`` with ``i < j`` and ``type`` a code from :mod:`domains.molecules.elements`, or
``None`` when the source (an XYZ file) carries no bonds and they must be inferred from the geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from rdkit import Chem

from domains.molecules.elements import BOND_CODES, RDKIT_BOND_TYPES


@dataclass
class Molecule:
    elements: list[str]
    positions: np.ndarray  # [n, 3] float, Angstrom
    charges: np.ndarray | None = None  # [n] int formal charges; None means all neutral
    bonds: np.ndarray | None = None  # [m, 3] int rows (i, j, type), i < j; None means "not given"
    name: str = ""
    properties: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        self.positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        n = len(self.elements)
        self.charges = np.zeros(n, dtype=np.int64) if self.charges is None else np.asarray(self.charges, int)
        if self.bonds is not None:
            self.bonds = np.asarray(self.bonds, dtype=np.int64).reshape(-1, 3)
        if self.positions.shape[0] != n or self.charges.shape != (n,):
            raise ValueError(f"{n} elements but positions {self.positions.shape}, charges {self.charges.shape}")

    @property
    def num_atoms(self) -> int:
        return len(self.elements)

    def bond_matrix(self) -> np.ndarray:
        """Dense symmetric [n, n] matrix of bond codes (0 where there is no bond)."""
        matrix = np.zeros((self.num_atoms, self.num_atoms), dtype=np.int64)
        if self.bonds is not None and len(self.bonds):
            i, j, kind = self.bonds.T
            matrix[i, j] = kind
            matrix[j, i] = kind
        return matrix

    def with_bonds(self, bonds: np.ndarray) -> Molecule:
        """A copy whose bonds are replaced (e.g. by bonds inferred from the geometry)."""
        return Molecule(self.elements, self.positions, self.charges, bonds, self.name, dict(self.properties))


def bonds_from_matrix(matrix: np.ndarray) -> np.ndarray:
    """Rows ``(i, j, type)``, ``i < j``, of the non-zero upper triangle of a bond-code matrix."""
    i, j = np.nonzero(np.triu(matrix, k=1))
    return np.stack([i, j, matrix[i, j]], axis=1).astype(np.int64)


def to_rdkit(molecule: Molecule, implicit_hydrogens: bool = False) -> Chem.RWMol:
    """An *unsanitised* RDKit molecule with a 3D conformer.

    With ``implicit_hydrogens=False`` (explicit-hydrogen data such as QM9) every atom is flagged
    ``NoImplicit`` so that sanitisation cannot silently fill missing hydrogens: an atom short of bonds
    stays a radical. Bonds must be given (``molecule.bonds`` not ``None``).
    """
    if molecule.bonds is None:
        raise ValueError("molecule has no bonds; infer them first (domains.molecules.bond_inference)")
    mol = Chem.RWMol()
    for symbol, charge in zip(molecule.elements, molecule.charges, strict=True):
        atom = Chem.Atom(symbol)
        atom.SetFormalCharge(int(charge))
        atom.SetNoImplicit(not implicit_hydrogens)
        mol.AddAtom(atom)
    for i, j, kind in molecule.bonds:
        mol.AddBond(int(i), int(j), RDKIT_BOND_TYPES[int(kind)])
        if kind == 4:
            mol.GetBondBetweenAtoms(int(i), int(j)).SetIsAromatic(True)
            mol.GetAtomWithIdx(int(i)).SetIsAromatic(True)
            mol.GetAtomWithIdx(int(j)).SetIsAromatic(True)
    conformer = Chem.Conformer(molecule.num_atoms)
    for index, xyz in enumerate(molecule.positions):
        conformer.SetAtomPosition(index, xyz.tolist())
    mol.AddConformer(conformer, assignId=True)
    if molecule.name:
        mol.SetProp("_Name", molecule.name)
    return mol


def from_rdkit(mol: Chem.Mol, name: str = "") -> Molecule:
    """Read elements, formal charges, bonds and the first conformer of an RDKit molecule.

    A molecule without a conformer, or with bond types other than single/double/triple/aromatic (dative,
    zero-order, ...), raises ``ValueError``.
    """
    elements = [atom.GetSymbol() for atom in mol.GetAtoms()]
    charges = [atom.GetFormalCharge() for atom in mol.GetAtoms()]
    rows = []
    for bond in mol.GetBonds():
        kind = BOND_CODES.get(bond.GetBondType())
        if kind is None:
            raise ValueError(f"unsupported bond type {bond.GetBondType()} between atoms "
                             f"{bond.GetBeginAtomIdx() + 1} and {bond.GetEndAtomIdx() + 1}")
        i, j = sorted((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()))
        rows.append((i, j, kind))
    if mol.GetNumConformers() == 0:
        raise ValueError("no coordinates (the record has no conformer)")
    positions = mol.GetConformer().GetPositions()
    props = {k: v for k, v in mol.GetPropsAsDict().items() if isinstance(v, int | float) and not k.startswith("_")}
    return Molecule(elements, positions, np.array(charges, dtype=np.int64),
                    np.array(rows, dtype=np.int64).reshape(-1, 3), name, props)
