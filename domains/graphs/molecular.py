"""Molecular graphs: RDKit molecules <-> typed graphs, and the QM9 / MOSES SMILES shipped with packages.

Convention (DiGress, Vignac et al. 2023): hydrogens implicit; node type = index of the element in an alphabet
(QM9: C, N, O, F; MOSES: C, N, S, O, F, Cl, Br); molecules are kekulized so edge types are 1 single,
2 double, 3 triple. Formal charges are not represented; when a graph is turned back into a molecule a
four-valent nitrogen gets charge +1 (DiGress's rule), otherwise nothing is corrected: validity is RDKit
sanitization of exactly the generated bonds.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import networkx as nx
import pandas as pd
from rdkit import Chem, RDLogger

from domains.graphs.convert import EDGE_TYPE, NODE_TYPE
from sciddm.errors import DataError

QM9_ATOMS = ("C", "N", "O", "F")
MOSES_ATOMS = ("C", "N", "S", "O", "F", "Cl", "Br")
BOND_TYPES = {Chem.BondType.SINGLE: 1, Chem.BondType.DOUBLE: 2, Chem.BondType.TRIPLE: 3}
BOND_FROM_TYPE = {v: k for k, v in BOND_TYPES.items()}

RDLogger.DisableLog("rdApp.*")


def package_dir(name: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(name, "package not installed; install it to use this data set")
    return Path(spec.submodule_search_locations[0])


def qm9_smiles(limit: int | None = None) -> list[str]:
    """QM9 SMILES from ``qm9pack`` (parts 1-3 in file order; ~131k molecules)."""
    smiles: list[str] = []
    for part in (1, 2, 3):
        path = package_dir("qm9pack") / "data" / f"qm9_part{part}.csv"
        smiles += pd.read_csv(path, usecols=["SMILES"])["SMILES"].tolist()
        if limit is not None and len(smiles) >= limit:
            return smiles[:limit]
    return smiles


def moses_smiles(split: str = "train", limit: int | None = None) -> list[str]:
    """MOSES SMILES from ``molsets`` (``split`` in train, test, test_scaffolds)."""
    path = package_dir("moses") / "dataset" / "data" / f"{split}.csv.gz"
    with gzip.open(path, "rt") as handle:
        frame = pd.read_csv(handle, usecols=["SMILES"], nrows=limit)
    return frame["SMILES"].tolist()


def mol_to_graph(mol: Chem.Mol, atoms: tuple[str, ...], source: str = "<molecule>", record: int = 0) -> nx.Graph:
    """Kekulized heavy-atom graph of ``mol``; raises :class:`DataError` for an element outside ``atoms``."""
    mol = Chem.Mol(mol)
    Chem.Kekulize(mol, clearAromaticFlags=True)
    graph = nx.Graph()
    for atom in mol.GetAtoms():
        if atom.GetSymbol() not in atoms:
            raise DataError(source, f"element {atom.GetSymbol()} not in alphabet {','.join(atoms)}", record)
        graph.add_node(atom.GetIdx(), **{NODE_TYPE: atoms.index(atom.GetSymbol())})
    for bond in mol.GetBonds():
        graph.add_edge(bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), **{EDGE_TYPE: BOND_TYPES[bond.GetBondType()]})
    return graph


def smiles_to_graphs(smiles: list[str], atoms: tuple[str, ...], source: str = "<smiles>") -> list[nx.Graph]:
    """Graphs of a SMILES list; an unparsable SMILES raises :class:`DataError` naming its index."""
    graphs = []
    for i, smi in enumerate(smiles):
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            raise DataError(source, f"invalid SMILES {smi!r}", i)
        graphs.append(mol_to_graph(mol, atoms, source, i))
    return graphs


def graph_to_mol(graph: nx.Graph, atoms: tuple[str, ...]) -> Chem.Mol | None:
    """The sanitized molecule with exactly the graph's atoms and bonds, or ``None`` if RDKit rejects it."""
    mol = Chem.RWMol()
    index = {}
    for v, attrs in graph.nodes(data=True):
        if not 0 <= attrs[NODE_TYPE] < len(atoms):
            return None
        index[v] = mol.AddAtom(Chem.Atom(atoms[attrs[NODE_TYPE]]))
    for u, v, attrs in graph.edges(data=True):
        if attrs[EDGE_TYPE] not in BOND_FROM_TYPE:
            return None
        mol.AddBond(index[u], index[v], BOND_FROM_TYPE[attrs[EDGE_TYPE]])
    for atom in mol.GetAtoms():
        if atom.GetSymbol() == "N" and sum(b.GetBondTypeAsDouble() for b in atom.GetBonds()) == 4:
            atom.SetFormalCharge(1)
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # RDKit raises several unrelated exception types for chemically invalid input
        return None
    return mol.GetMol()


def canonical_smiles(graph: nx.Graph, atoms: tuple[str, ...]) -> str | None:
    """Canonical SMILES of a valid molecular graph, ``None`` when invalid."""
    mol = graph_to_mol(graph, atoms)
    return None if mol is None else Chem.MolToSmiles(mol)
