"""Datasets and the LightningDataModule for molecules: QM9 (qm9pack), MOSES with ETKDG conformers, or the
user's own SDF set.

User SDF sets (e.g. GEOM-style conformer files) are split by a seeded permutation
``numpy.random.default_rng(seed)``: 80% train, 10% val, 10% test (the rest of the rounding goes to train).
Every record must have explicit 3D coordinates, elements in the vocabulary and formal charges in the
charge alphabet; otherwise :class:`~sciddm.errors.DataError` names the file and the record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from domains.molecules.batching import dense_batch, molecule_graph
from domains.molecules.elements import DEFAULT_CHARGES, NUM_BOND_TYPES, QM9_ELEMENTS, Vocabulary
from domains.molecules.io import read_sdf
from domains.molecules.moses import MOSES_ELEMENTS, load_moses
from domains.molecules.qm9 import load_qm9
from domains.molecules.table import MoleculeTable
from sciddm.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")
SOURCE_ELEMENTS = {"qm9": QM9_ELEMENTS, "moses": MOSES_ELEMENTS, "sdf": QM9_ELEMENTS}


class MoleculeDataset(Dataset):
    """Index a :class:`MoleculeTable` as torch-geometric graphs (positions centred unless ``center=False``)."""

    def __init__(self, table: MoleculeTable, center: bool = True):
        self.table = table
        self.center = center

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, index: int):
        return molecule_graph(self.table, index, self.center)

    def collate(self, graphs):
        return dense_batch(graphs, self.table.property_names)


def load_sdf_set(path: str | Path, vocabulary: Vocabulary) -> MoleculeTable:
    """Read a user SDF file into a table, checking every record against the vocabulary."""
    molecules = read_sdf(path)
    allowed = set(vocabulary.elements)
    for record, molecule in enumerate(molecules, start=1):
        unknown = sorted(set(molecule.elements) - allowed)
        if unknown:
            raise DataError(path, f"elements {unknown} are not in the vocabulary {list(vocabulary.elements)}",
                            record)
        bad = sorted(set(molecule.charges.tolist()) - set(vocabulary.charges))
        if bad:
            raise DataError(path, f"formal charges {bad} are not in the alphabet {list(vocabulary.charges)}",
                            record)
    return MoleculeTable.from_molecules(molecules, vocabulary)


def split_table(table: MoleculeTable, seed: int) -> dict[str, MoleculeTable]:
    """80/10/10 seeded split of a user set (see the module docstring)."""
    order = np.random.default_rng(seed).permutation(len(table))
    n_val = n_test = len(table) // 10
    return {"train": table.subset(order[n_val + n_test:]), "val": table.subset(order[:n_val]),
            "test": table.subset(order[n_val:n_val + n_test])}


def num_atoms_histogram(table: MoleculeTable) -> torch.Tensor:
    """Counts [max_atoms + 1]: entry n is the number of molecules with n atoms (for sampling sizes)."""
    return torch.bincount(table.num_atoms)


def marginal_distributions(table: MoleculeTable) -> dict[str, torch.Tensor]:
    """Empirical class frequencies of atom types, charges and bonds (the categorical paths' marginal prior).

    Bond frequencies are over all unordered pairs of distinct atoms within a molecule, "no bond" included.
    """
    vocabulary = table.vocabulary
    charge_classes = torch.tensor([vocabulary.charges.index(int(q)) for q in table.charges.tolist()],
                                  dtype=torch.long)
    pairs = int((table.num_atoms * (table.num_atoms - 1) // 2).sum())
    bond_counts = torch.bincount(table.bonds[:, 2], minlength=NUM_BOND_TYPES).double()
    bond_counts[0] = pairs - bond_counts[1:].sum()

    def normalise(counts):
        counts = counts.double()
        return counts / counts.sum()

    return {
        "atom_types": normalise(torch.bincount(table.atom_types, minlength=vocabulary.num_atom_types)),
        "charges": normalise(torch.bincount(charge_classes, minlength=vocabulary.num_charges)),
        "bonds": normalise(bond_counts),
    }


class MoleculeDataModule(pl.LightningDataModule):
    """Dense padded ``(fields, context)`` batches (see :mod:`domains.molecules.batching`).

    ``source="qm9"`` reads QM9 with hydrogens (cached, EDM split, see :mod:`domains.molecules.qm9`);
    ``source="moses"`` MOSES SMILES with ETKDG conformers (:mod:`domains.molecules.moses`, ``max_molecules``
    defaults to 1000 there); ``source="sdf"`` reads ``path``. ``elements`` defaults to the source's own
    alphabet (QM9: H C N O F; MOSES: H C N O F S Cl Br; SDF: QM9's). ``max_molecules`` caps every split.
    """

    def __init__(
        self,
        source: str = "qm9",
        path: str | None = None,
        elements: tuple[str, ...] | None = None,
        charges: tuple[int, ...] = DEFAULT_CHARGES,
        max_molecules: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        center: bool = True,
        cache_dir: str | None = None,
    ):
        super().__init__()
        if source not in SOURCE_ELEMENTS:
            raise ConfigError(f"unknown molecule source {source!r}; choose one of: {', '.join(SOURCE_ELEMENTS)}")
        if source == "sdf" and path is None:
            raise ConfigError("source 'sdf' needs a path to an .sdf file")
        self.save_hyperparameters()
        self.vocabulary = Vocabulary(tuple(elements or SOURCE_ELEMENTS[source]), tuple(charges))
        builtin = Vocabulary(SOURCE_ELEMENTS[source])
        if source != "sdf" and self.vocabulary != builtin:
            raise ConfigError(f"{source} uses elements {list(builtin.elements)} and charges "
                              f"{list(builtin.charges)}; got {list(self.vocabulary.elements)} and {list(charges)}")
        self.tables: dict[str, MoleculeTable] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.tables:
            return
        h = self.hparams
        if h.source == "qm9":
            tables = load_qm9(SPLITS, h.seed, h.max_molecules, h.cache_dir)
        elif h.source == "moses":
            tables = {s: load_moses(s, h.seed, h.max_molecules or 1000, h.cache_dir) for s in SPLITS}
        else:
            tables = split_table(load_sdf_set(h.path, self.vocabulary), h.seed)
            if h.max_molecules is not None:
                tables = {s: t if len(t) <= h.max_molecules else t.subset(range(h.max_molecules))
                          for s, t in tables.items()}
        self.tables = tables

    @property
    def num_atoms_histogram(self) -> torch.Tensor:
        self.setup()
        return num_atoms_histogram(self.tables["train"])

    @property
    def marginals(self) -> dict[str, torch.Tensor]:
        self.setup()
        return marginal_distributions(self.tables["train"])

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        dataset = MoleculeDataset(self.tables[split], self.hparams.center)
        generator = torch.Generator().manual_seed(self.hparams.seed)
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers, collate_fn=dataset.collate, generator=generator)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
