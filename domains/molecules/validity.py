"""RDKit validity, connectivity and canonical SMILES of molecules with bonds.

A molecule is **valid** iff RDKit sanitisation succeeds on the molecule built from its atoms, formal charges
and bonds (:func:`domains.molecules.molecule.to_rdkit`) *and*, in the explicit-hydrogen convention (the
default, right for QM9 with H), no atom is left with radical electrons. With ``implicit_hydrogens=True``
RDKit may add hydrogens to under-bonded atoms instead (EDM's convention; it accepts radicals silently).
A valid molecule is **connected** iff it has one fragment (MiDi's "connected validity").

Canonical SMILES (for uniqueness, novelty and FCD) are RDKit canonical SMILES of the hydrogen-suppressed
molecule without stereochemistry (``isomericSmiles=False``), since stereo is not perceived from generated
3D coordinates.
"""

from __future__ import annotations

from rdkit import Chem, RDLogger

from domains.molecules.molecule import Molecule, to_rdkit


def sanitized(molecule: Molecule, implicit_hydrogens: bool = False) -> Chem.Mol | None:
    """The sanitised RDKit molecule, or ``None`` if the molecule is invalid (never raises on bad chemistry)."""
    mol = to_rdkit(molecule, implicit_hydrogens=implicit_hydrogens)
    RDLogger.DisableLog("rdApp.*")
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # RDKit raises several unrelated exception types for bad valences and aromaticity
        return None
    finally:
        RDLogger.EnableLog("rdApp.*")
    if not implicit_hydrogens and any(atom.GetNumRadicalElectrons() for atom in mol.GetAtoms()):
        return None
    return mol.GetMol()


def is_connected(mol: Chem.Mol) -> bool:
    return len(Chem.GetMolFrags(mol)) == 1


def canonical_smiles(mol: Chem.Mol) -> str:
    return Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False), isomericSmiles=False)
