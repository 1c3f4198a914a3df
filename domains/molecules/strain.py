"""MMFF94 strain energy of a 3D pose (optional metric).

strain = E_MMFF(pose) - E_MMFF(local minimum reached from the pose), in kcal/mol, with RDKit's MMFF94 force
field and its default minimiser run to convergence (``max_iterations``). It measures how far the generated
geometry is from a relaxed one with the same bonds (as in PoseCheck, Harris et al., 2023). It is defined only
for valid molecules that MMFF94 can type; others give ``None``.
"""

from __future__ import annotations

from rdkit import Chem
from rdkit.Chem import AllChem


def mmff_strain_energy(mol: Chem.Mol, max_iterations: int = 2000) -> float | None:
    """Strain of the first conformer of a sanitised, hydrogen-complete molecule (see module docstring)."""
    copy = Chem.Mol(mol)
    properties = AllChem.MMFFGetMoleculeProperties(copy)
    if properties is None:
        return None
    force_field = AllChem.MMFFGetMoleculeForceField(copy, properties)
    if force_field is None:
        return None
    pose = force_field.CalcEnergy()
    force_field.Minimize(maxIts=max_iterations)
    return float(pose - force_field.CalcEnergy())
