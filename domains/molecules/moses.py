"""Optional drug-like set: MOSES SMILES (Polykovskiy et al., 2020; ``molsets`` package) with RDKit ETKDG
conformers (Riniker & Landrum, 2015).

Molecules with formal charges outside the default charge alphabet are skipped as well.

MOSES ships SMILES only, so 3D structures are generated: hydrogens added, one ETKDGv3 conformer embedded with
``randomSeed = seed``; molecules that fail to embed are skipped. Splits come from a seeded permutation
``numpy.random.default_rng(seed)`` of a MOSES file: ``val`` is the first 10,000 rows of the permuted
``train.csv.gz``, ``train`` the rest, ``test`` the permuted ``test.csv.gz``. ``max_molecules`` caps each
split (conformer generation costs tens of milliseconds per molecule, so full-size sets take hours).
Processed splits are cached like QM9's.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

from domains.molecules.elements import Vocabulary
from domains.molecules.molecule import from_rdkit
from domains.molecules.qm9 import default_cache_dir
from domains.molecules.table import MoleculeTable
from sciddm.errors import ConfigError

MOSES_ELEMENTS = ("H", "C", "N", "O", "F", "S", "Cl", "Br")
VALIDATION_ROWS = 10_000
CACHE_VERSION = 1


def moses_file(name: str) -> Path:
    """A file of the installed ``molsets`` package (imported as ``moses``), located without importing it."""
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the MOSES set needs the 'molsets' package: pip install --no-deps molsets")
    return Path(spec.submodule_search_locations[0]) / "dataset" / "data" / name


def split_smiles(split: str, seed: int) -> list[str]:
    """SMILES of one split in its seeded order (see the module docstring)."""
    if split not in ("train", "val", "test"):
        raise ConfigError(f"unknown MOSES split {split!r}; choose one of: test, train, val")
    smiles = pd.read_csv(moses_file("test.csv.gz" if split == "test" else "train.csv.gz"))["SMILES"].tolist()
    order = np.random.default_rng(seed).permutation(len(smiles))
    if split == "val":
        order = order[:VALIDATION_ROWS]
    elif split == "train":
        order = order[VALIDATION_ROWS:]
    return [smiles[i] for i in order]


def embed(smiles: str, seed: int) -> Chem.Mol | None:
    """Hydrogen-complete molecule with one ETKDGv3 conformer, or ``None`` if parsing or embedding fails."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    return mol if AllChem.EmbedMolecule(mol, params) == 0 else None


def load_moses(split: str = "train", seed: int = 0, max_molecules: int = 1000,
               cache_dir: str | Path | None = None) -> MoleculeTable:
    """The first ``max_molecules`` embeddable molecules of a MOSES split, as a cached table."""
    if max_molecules <= 0:
        raise ConfigError(f"max_molecules must be positive, got {max_molecules}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / f"moses_v{CACHE_VERSION}_{split}_seed{seed}_{max_molecules}.pt"
    if path.is_file():
        return MoleculeTable.load(path)
    vocabulary = Vocabulary(MOSES_ELEMENTS)
    molecules = []
    RDLogger.DisableLog("rdApp.*")
    try:
        for smiles in split_smiles(split, seed):
            mol = embed(smiles, seed)
            if mol is not None and all(a.GetFormalCharge() in vocabulary.charges for a in mol.GetAtoms()):
                molecules.append(from_rdkit(mol, name=smiles))
            if len(molecules) == max_molecules:
                break
    finally:
        RDLogger.EnableLog("rdApp.*")
    table = MoleculeTable.from_molecules(molecules, vocabulary)
    table.save(path)
    return table
