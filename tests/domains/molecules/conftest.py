"""Shared fixtures: a real QM9 sample (cached in a temporary directory) and hand-built molecules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem

from domains.molecules.molecule import Molecule, from_rdkit
from domains.molecules.qm9 import load_qm9

QM9_SAMPLE = 400


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The test machine is shared: torch's thread pool thrashes under load (ChemNet runs 10x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def qm9_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("qm9_cache")


@pytest.fixture(scope="session")
def qm9_test_table(qm9_cache):
    """The first QM9_SAMPLE molecules of the seeded test split (real DFT geometries)."""
    return load_qm9(("test",), seed=0, max_molecules=QM9_SAMPLE, cache_dir=qm9_cache)["test"]


@pytest.fixture(scope="session")
def qm9_molecules(qm9_test_table) -> list[Molecule]:
    return [qm9_test_table.molecule(i) for i in range(len(qm9_test_table))]


def embedded(smiles: str, seed: int = 7, kekulize: bool = False) -> Molecule:
    """A hydrogen-complete molecule with an ETKDG conformer (deterministic for a seed)."""
    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert AllChem.EmbedMolecule(mol, randomSeed=seed) == 0
    if kekulize:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    return from_rdkit(mol, name=smiles)


def molecule(elements, bonds, charges=None, positions=None) -> Molecule:
    """A molecule from a hand-written bond list (positions irrelevant unless given)."""
    n = len(elements)
    positions = np.arange(3 * n, dtype=float).reshape(n, 3) * 3.0 if positions is None else positions
    return Molecule(list(elements), positions, charges, np.array(bonds).reshape(-1, 3))
