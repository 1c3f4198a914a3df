"""QM9 with explicit hydrogens, read offline from the ``qm9pack`` package's CSV files.

``qm9pack`` ships the 130,831 molecules that survive QM9's consistency check (Ramakrishnan et al., 2014):
elements, B3LYP/6-31G(2df,p) coordinates (Angstrom), SMILES and properties. Coordinates carry no bonds, so we
take bonds, bond orders and formal charges from the SMILES: we perceive connectivity from the geometry
(RDKit ``DetermineConnectivity``), then map the hydrogen-complete SMILES graph onto it as a subgraph match on
elements and connectivity; SMILES bonds become the bonds, SMILES formal charges the charges (aromatic bonds
stay aromatic). When the geometry has extra close contacts (strained cages), several mappings may fit and
the one with the smallest total bond length is kept; mappings that differ only by graph symmetry give the
same molecule up to resonance (e.g. which carboxylate O carries the charge). Molecules whose SMILES graph
does not fit their geometry are dropped: 2 of 130,831, both in ``train`` (``process_rows`` returns the
count).

Split (the EDM / Cormorant convention): a seeded permutation ``numpy.random.default_rng(seed)`` of the
130,831 CSV rows; the first 100,000 rows are ``train``, the last 13,083 (10%) ``test`` and the 17,748 in
between ``val``. Drops happen after splitting, so a failure never moves a molecule between splits.

Properties, in EDM's units: ``mu`` (D), ``alpha`` (bohr^3), ``homo``, ``lumo``, ``gap`` (meV), ``Cv``
(cal/mol/K), ``U0`` (eV).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDetermineBonds

from domains.molecules.elements import BOND_CODES, QM9_ELEMENTS, Vocabulary
from domains.molecules.hydrogens import without_hydrogens
from domains.molecules.molecule import Molecule
from domains.molecules.table import MoleculeTable
from sciddm.errors import ConfigError, DataError

HARTREE_TO_MEV = 27211.386245988
HARTREE_TO_EV = 27.211386245988
PROPERTY_COLUMNS = {  # name: (CSV column, factor to EDM units)
    "mu": ("Dipole_debye", 1.0),
    "alpha": ("Polarizability_bohr3", 1.0),
    "homo": ("HOMO_au", HARTREE_TO_MEV),
    "lumo": ("LUMO_au", HARTREE_TO_MEV),
    "gap": ("HOMO_LUMO_gap_au", HARTREE_TO_MEV),
    "Cv": ("Heatcapacity_Cv_cal_mol_K", 1.0),
    "U0": ("InternalEnergy_0K_au", HARTREE_TO_EV),
}
PROPERTY_NAMES = tuple(PROPERTY_COLUMNS)
SPLIT_SIZES = {"train": 100_000, "test_fraction": 0.1}
CACHE_VERSION = 1


def qm9_csv_files() -> list[Path]:
    """The qm9pack CSV parts, located without importing the package."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("QM9 needs the 'qm9pack' package: pip install qm9pack")
    data = Path(spec.submodule_search_locations[0]) / "data"
    files = sorted(data.glob("qm9_part*.csv"))
    if not files:
        raise DataError(data, "no qm9_part*.csv files in the qm9pack installation")
    return files


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/sciddm/molecules`` (``~/.cache/sciddm/molecules`` when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "sciddm" / "molecules"


def split_rows(total: int, seed: int) -> dict[str, np.ndarray]:
    """Row indices of the train / val / test splits (see the module docstring)."""
    order = np.random.default_rng(seed).permutation(total)
    n_train = min(SPLIT_SIZES["train"], int(0.8 * total))
    n_test = int(SPLIT_SIZES["test_fraction"] * total)
    return {"train": order[:n_train], "val": order[n_train:total - n_test], "test": order[total - n_test:]}


def read_qm9_csv(files: list[Path] | None = None) -> pd.DataFrame:
    columns = ["Index", "SMILES", "Elements", "XYZ_Ang"] + [c for c, _ in PROPERTY_COLUMNS.values()]
    frames = [pd.read_csv(f, usecols=columns) for f in (files or qm9_csv_files())]
    return pd.concat(frames, ignore_index=True)


def parse_row(row) -> tuple[list[str], np.ndarray]:
    """Elements and [n, 3] coordinates from qm9pack's ``"['C','H']"`` and ``"[[x,y,z],...]"`` strings."""
    elements = [s.strip().strip("'\"") for s in row.Elements.strip("[]").split(",")]
    positions = np.array(row.XYZ_Ang.replace("[", "").replace("]", "").split(","), dtype=float)
    return elements, positions.reshape(-1, 3)


def bonds_from_smiles(smiles: str, elements: list[str], positions: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    """(formal charges [n], bond rows [m, 3]) for atoms in file order, or ``None`` if the SMILES does not fit."""
    template = Chem.MolFromSmiles(smiles)
    if template is None:
        return None
    template = Chem.AddHs(template)
    geometry = Chem.RWMol()
    for symbol in elements:
        geometry.AddAtom(Chem.Atom(symbol))
    conformer = Chem.Conformer(len(elements))
    for i, xyz in enumerate(positions):
        conformer.SetAtomPosition(i, xyz.tolist())
    geometry.AddConformer(conformer)
    rdDetermineBonds.DetermineConnectivity(geometry, useHueckel=False)
    query = Chem.RWMol(template)
    for bond in query.GetBonds():
        bond.SetBondType(Chem.BondType.SINGLE)
        bond.SetIsAromatic(False)
    for atom in query.GetAtoms():
        atom.SetIsAromatic(False)
        atom.SetFormalCharge(0)
    if query.GetNumAtoms() != geometry.GetNumAtoms():
        return None
    exact = query.GetNumBonds() == geometry.GetNumBonds()
    matches = geometry.GetSubstructMatches(query, uniquify=False, maxMatches=1 if exact else 64)
    if not matches:
        return None
    template_bonds = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), BOND_CODES[b.GetBondType()])
                      for b in template.GetBonds()]

    def total_length(match):
        return sum(np.linalg.norm(positions[match[a]] - positions[match[b]]) for a, b, _ in template_bonds)

    match = min(matches, key=total_length)
    charges = np.zeros(len(elements), dtype=np.int64)
    for atom in template.GetAtoms():
        charges[match[atom.GetIdx()]] = atom.GetFormalCharge()
    rows = sorted((min(match[a], match[b]), max(match[a], match[b]), kind) for a, b, kind in template_bonds)
    return charges, np.array(rows, dtype=np.int64).reshape(-1, 3)


def process_rows(frame: pd.DataFrame) -> tuple[list[Molecule], int]:
    """Molecules (with bonds, charges and properties) for every row whose SMILES fits; and the drop count."""
    RDLogger.DisableLog("rdApp.*")
    molecules, dropped = [], 0
    try:
        for row in frame.itertuples(index=False):
            elements, positions = parse_row(row)
            assigned = bonds_from_smiles(row.SMILES, elements, positions)
            if assigned is None:
                dropped += 1
                continue
            properties = {name: float(getattr(row, column)) * factor
                          for name, (column, factor) in PROPERTY_COLUMNS.items()}
            molecules.append(Molecule(elements, positions, assigned[0], assigned[1],
                                      name=f"qm9_{row.Index:06d}|{row.SMILES}", properties=properties))
    finally:
        RDLogger.EnableLog("rdApp.*")
    return molecules, dropped


def load_qm9(splits: tuple[str, ...] = ("train", "val", "test"), seed: int = 0,
             max_molecules: int | None = None, cache_dir: str | Path | None = None,
             remove_hydrogens: bool = False) -> dict[str, MoleculeTable]:
    """QM9 splits as :class:`MoleculeTable` objects, processed once and cached (written atomically).

    ``max_molecules`` keeps only the first that many rows of each split's shuffled order (fast quickstarts);
    each distinct ``(split, seed, max_molecules)`` has its own cache file. The CSVs are read at most once.
    ``remove_hydrogens`` gives the heavy-atom tables (:func:`domains.molecules.hydrogens.without_hydrogens`),
    cached in files of their own.
    """
    unknown = sorted(set(splits) - {"train", "val", "test"})
    if unknown:
        raise ConfigError(f"unknown QM9 split {unknown[0]!r}; choose one of: test, train, val")
    if max_molecules is not None and max_molecules <= 0:
        raise ConfigError(f"max_molecules must be positive, got {max_molecules}")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    tag = "all" if max_molecules is None else str(max_molecules)
    if remove_hydrogens:
        heavy = cache / f"qm9_v{CACHE_VERSION}_noH_seed{seed}_{tag}"
        paths = {split: heavy.with_name(f"{heavy.name}_{split}.pt") for split in splits}
        tables = {split: MoleculeTable.load(path) for split, path in paths.items() if path.is_file()}
        missing = tuple(split for split in splits if split not in tables)
        if missing:
            for split, table in load_qm9(missing, seed, max_molecules, cache_dir).items():
                tables[split] = without_hydrogens(table)
                tables[split].save(paths[split])
        return tables
    paths = {split: cache / f"qm9_v{CACHE_VERSION}_{split}_seed{seed}_{tag}.pt" for split in splits}
    tables = {split: MoleculeTable.load(path) for split, path in paths.items() if path.is_file()}
    if len(tables) < len(splits):
        frame = read_qm9_csv()
        rows = split_rows(len(frame), seed)
        for split in set(splits) - set(tables):
            molecules, _ = process_rows(frame.iloc[rows[split][:max_molecules]])
            tables[split] = MoleculeTable.from_molecules(molecules, Vocabulary(QM9_ELEMENTS), PROPERTY_NAMES)
            tables[split].save(paths[split])
    return tables
