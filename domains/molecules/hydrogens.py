"""Hydrogen removal: the "QM9 without hydrogens" setting of EDM (Hoogeboom et al. 2022) and MiDi (Vignac et
al. 2023), where only heavy atoms are generated and RDKit adds implicit hydrogens when judging validity."""

from __future__ import annotations

import numpy as np
from rdkit import Chem

from domains.molecules.elements import Vocabulary
from domains.molecules.molecule import Molecule, from_rdkit
from domains.molecules.table import MoleculeTable
from domains.molecules.validity import sanitized


def heavy_atoms(molecule: Molecule) -> Molecule:
    """The molecule without its hydrogens (and their bonds), heavy-atom indices in order, aromatic bonds
    kekulised first (with the hydrogens still present, so pyrrole-type N-H is unambiguous; without them an
    aromatic ring with implicit hydrogens may not be kekulisable). Molecules RDKit rejects keep their bonds."""
    mol = sanitized(molecule)
    if mol is not None:
        Chem.Kekulize(mol, clearAromaticFlags=True)
        molecule = Molecule(molecule.elements, molecule.positions, molecule.charges,
                            from_rdkit(mol).bonds, molecule.name, molecule.properties)
    keep = np.array([e != "H" for e in molecule.elements])
    index = np.cumsum(keep) - 1
    bonds = molecule.bonds
    if bonds is not None:
        bonds = bonds[keep[bonds[:, 0]] & keep[bonds[:, 1]]]
        bonds = np.stack([index[bonds[:, 0]], index[bonds[:, 1]], bonds[:, 2]], axis=1)
    return Molecule([e for e in molecule.elements if e != "H"], molecule.positions[keep],
                    molecule.charges[keep], bonds, molecule.name, dict(molecule.properties))


def without_hydrogens(table: MoleculeTable) -> MoleculeTable:
    """Every molecule of ``table`` without hydrogens, atom types re-indexed into the vocabulary without H."""
    vocabulary = Vocabulary(tuple(e for e in table.vocabulary.elements if e != "H"), table.vocabulary.charges)
    molecules = [heavy_atoms(table.molecule(i)) for i in range(len(table))]
    return MoleculeTable.from_molecules(molecules, vocabulary, table.property_names)
