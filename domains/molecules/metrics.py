"""Validators and set metrics for 3D molecules; the ``sciddm evaluate molecules`` entry point.

Every metric is defined in ``docs/molecules.md``; in short, for n molecules:

* ``edm_atom_stability`` / ``edm_molecule_stability``: fraction of atoms / molecules whose valence, with bonds
  inferred from distances, is allowed (:mod:`valence`, EDM convention; charges ignored).
* ``valence_atom_stability`` / ``valence_molecule_stability``: the same on the molecule's bonds (given in
  the file, else the inferred ones) with formal charges, aromatic bonds counted through a Kekule structure.
* ``validity``: fraction of the n molecules that RDKit sanitises (:mod:`validity`); ``connected_validity``:
  fraction that are valid and one fragment.
* ``uniqueness``: distinct canonical SMILES among valid molecules / number of valid molecules.
* with a reference set: ``novelty`` (distinct valid SMILES not in the reference / distinct valid SMILES),
  ``fcd`` (valid generated vs valid reference SMILES), ``bond_length_w1`` (Angstrom) and ``bond_angle_w1``
  (degrees) (:mod:`geometry`).
* with ``strain=True``: ``strain_energy_mean`` / ``strain_energy_median`` (kcal/mol) over the
  ``strain_energy_count`` valid molecules MMFF94 can type (:mod:`strain`).

A metric without enough data (e.g. uniqueness with no valid molecule) is ``None``. Invalid molecules are
counted as invalid and never raise.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rdkit import Chem

from domains.molecules.bond_inference import infer_bonds
from domains.molecules.fcd import frechet_chemnet_distance
from domains.molecules.geometry import bond_angles, bond_lengths, weighted_w1
from domains.molecules.io import read_molecules
from domains.molecules.molecule import Molecule
from domains.molecules.strain import mmff_strain_energy
from domains.molecules.valence import charged_atom_stability, charged_molecule_stability, edm_atom_stability
from domains.molecules.validity import canonical_smiles, is_connected, sanitized
from sciddm.errors import ConfigError

OPTIONS = ("fcd", "implicit_hydrogens", "strain")


@dataclass
class Assessment:
    """Per-molecule verdicts (the inputs of the set metrics)."""

    molecule: Molecule  # with bonds (given or inferred)
    edm_stable_atoms: np.ndarray
    valence_stable_atoms: np.ndarray
    valence_stable: bool
    mol: Chem.Mol | None  # sanitised RDKit molecule, None if invalid
    smiles: str | None


def assess(molecule: Molecule, implicit_hydrogens: bool = False) -> Assessment:
    """All per-molecule checks; a molecule without bonds gets bonds inferred from its geometry."""
    bonded = molecule if molecule.bonds is not None else infer_bonds(molecule)
    mol = sanitized(bonded, implicit_hydrogens)
    return Assessment(
        molecule=bonded,
        edm_stable_atoms=edm_atom_stability(molecule),
        valence_stable_atoms=charged_atom_stability(bonded),
        valence_stable=charged_molecule_stability(bonded),
        mol=mol,
        smiles=None if mol is None else canonical_smiles(mol),
    )


def _fraction(values) -> float | None:
    values = list(values)
    return float(np.mean(values)) if values else None


def novelty(smiles: list[str], known: Collection[str]) -> float | None:
    """Distinct SMILES not in ``known`` / distinct SMILES (``None`` without SMILES)."""
    distinct = set(smiles)
    return sum(s not in known for s in distinct) / len(distinct) if distinct else None


def evaluate_molecules(molecules: list[Molecule], reference: list[Molecule] | None = None,
                       implicit_hydrogens: bool = False, fcd: bool = True, strain: bool = False,
                       known_smiles: Collection[str] | None = None) -> dict:
    """The flat metrics dict described in the module docstring.

    ``known_smiles`` (e.g. the training set's canonical SMILES) defines ``novelty`` when given (it takes
    precedence over the reference set's SMILES)."""
    assessed = [assess(m, implicit_hydrogens) for m in molecules]
    valid = [a for a in assessed if a.mol is not None]
    smiles = [a.smiles for a in valid]
    metrics = {
        "num_molecules": len(molecules),
        "mean_num_atoms": _fraction(m.num_atoms for m in molecules),
        "bond_source": "file" if all(m.bonds is not None for m in molecules) else "inferred",
        "edm_atom_stability": _fraction(np.concatenate([a.edm_stable_atoms for a in assessed])),
        "edm_molecule_stability": _fraction(a.edm_stable_atoms.all() for a in assessed),
        "valence_atom_stability": _fraction(np.concatenate([a.valence_stable_atoms for a in assessed])),
        "valence_molecule_stability": _fraction(a.valence_stable for a in assessed),
        "validity": _fraction(a.mol is not None for a in assessed),
        "connected_validity": _fraction(a.mol is not None and is_connected(a.mol) for a in assessed),
        "uniqueness": len(set(smiles)) / len(smiles) if smiles else None,
    }
    if strain:
        energies = [e for e in (mmff_strain_energy(a.mol) for a in valid) if e is not None]
        metrics.update(strain_energy_count=len(energies),
                       strain_energy_mean=float(np.mean(energies)) if energies else None,
                       strain_energy_median=float(np.median(energies)) if energies else None)
    if reference is not None:
        metrics.update(compare_to_reference(assessed, [assess(m, implicit_hydrogens) for m in reference], fcd))
    if known_smiles is not None:
        metrics["novelty"] = novelty(smiles, known_smiles)
    return metrics


def compare_to_reference(assessed: list[Assessment], reference: list[Assessment], fcd: bool = True) -> dict:
    """Novelty, FCD and bond-length / bond-angle W1 of a generated set against a reference set."""
    generated_molecules = [a.molecule for a in assessed]
    reference_molecules = [a.molecule for a in reference]
    result = {
        "novelty": novelty([a.smiles for a in assessed if a.smiles is not None],
                           {a.smiles for a in reference if a.smiles is not None}),
        "bond_length_w1": weighted_w1(bond_lengths(generated_molecules), bond_lengths(reference_molecules)),
        "bond_angle_w1": weighted_w1(bond_angles(generated_molecules), bond_angles(reference_molecules)),
    }
    if fcd:
        result["fcd"] = frechet_chemnet_distance([a.smiles for a in assessed if a.smiles is not None],
                                                 [a.smiles for a in reference if a.smiles is not None])
    return result


def evaluate_file(path: Path, reference: Path | None = None, **options) -> dict:
    """Metrics of the molecules in ``path`` (.xyz or .sdf), optionally against a ``reference`` file.

    Options: ``implicit_hydrogens`` (bool, default False), ``fcd`` (bool, default True), ``strain`` (bool,
    default False).
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"unknown molecules evaluation option {unknown[0]!r}; choose from: {', '.join(OPTIONS)}")
    for key, value in options.items():
        if not isinstance(value, bool):
            raise ConfigError(f"molecules evaluation option {key!r} must be true or false, got {value!r}")
    molecules = read_molecules(path)
    reference_molecules = None if reference is None else read_molecules(reference)
    return evaluate_molecules(molecules, reference_molecules, **options)
