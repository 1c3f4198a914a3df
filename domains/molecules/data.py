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
import torch
from torch.utils.data import DataLoader, Dataset

from domains.molecules.batching import batch_to_molecules, dense_batch, molecule_graph
from domains.molecules.drawing import draw_grid
from domains.molecules.drawing3d import draw_grid_3d
from domains.molecules.elements import DEFAULT_CHARGES, NUM_BOND_TYPES, QM9_ELEMENTS, Vocabulary
from domains.molecules.hydrogens import without_hydrogens
from domains.molecules.io import read_sdf, write_sdf
from domains.molecules.metrics import evaluate_molecules
from domains.molecules.molecule import Molecule
from domains.molecules.moses import MOSES_ELEMENTS, load_moses
from domains.molecules.qm9 import load_qm9
from domains.molecules.table import MoleculeTable
from domains.molecules.validity import canonical_smiles, sanitized
from sciddm.errors import ConfigError, DataError
from sciddm.lightning.data import DiffusionDataModule

SPLITS = ("train", "val", "test")
SOURCE_ELEMENTS = {"qm9": QM9_ELEMENTS, "moses": MOSES_ELEMENTS, "sdf": QM9_ELEMENTS}
CONDITION_KEY = "condition"  # normalised conditioning property in the context; NaN is the null condition


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


def half_of(table: MoleculeTable, half: str | None) -> MoleculeTable:
    """EDM's conditional protocol splits the training split in two: ``first`` = rows ``[0, n//2)``, ``second``
    = the rest (the table is already in the seeded split order); ``None`` keeps everything."""
    if half is None:
        return table
    middle = len(table) // 2
    return table.subset(range(middle) if half == "first" else range(middle, len(table)))


class MoleculeDataModule(DiffusionDataModule):
    """Dense padded ``(fields, context)`` batches (see :mod:`domains.molecules.batching`), sample layouts,
    metrics, SDF output and PNG grids for the joint state of :mod:`domains.molecules.representation`.

    Data: ``source="qm9"`` reads QM9 with hydrogens (cached, EDM split, see :mod:`domains.molecules.qm9`);
    ``source="moses"`` MOSES SMILES with ETKDG conformers (:mod:`domains.molecules.moses`, ``max_molecules``
    defaults to 1000 there); ``source="sdf"`` reads ``path``. ``elements`` defaults to the source's own
    alphabet (QM9: H C N O F; MOSES: H C N O F S Cl Br; SDF: QM9's). ``max_molecules`` caps every split.
    ``train_half`` (``first``/``second``) keeps one half of the training split (EDM's conditional protocol).
    ``remove_hydrogens`` drops hydrogens (the "QM9 without H" setting of EDM and MiDi; aromatic bonds are
    kekulised first, see :func:`domains.molecules.hydrogens.heavy_atoms`): the vocabulary loses H, and
    validity, SMILES, SDF output and pictures use RDKit's implicit hydrogens (EDM-style stability, which needs
    explicit H, is then meaningless).

    Conditioning: with ``condition`` (a property name, e.g. ``alpha``) every batch's context also holds
    ``context["condition"]`` = (property - mean) / std, mean and std over the training split used; in training
    batches it is replaced by ``NaN`` (the null condition of classifier-free guidance) with probability
    ``condition_dropout``, drawn from a generator seeded with ``seed``.

    Sampling layout (:meth:`sample_template`): each sample copies the atom count (and the property, when
    conditional) of a training molecule drawn uniformly at random, so counts follow the training histogram
    and conditional targets follow the joint (count, property) distribution, as in EDM; ``num_atoms`` fixes
    the count instead.

    Metrics (:meth:`evaluate_samples`): :func:`domains.molecules.metrics.evaluate_molecules` on the decoded
    samples with their own bonds (stability, validity, connected validity, uniqueness), ``novelty`` against the
    training split's SMILES when ``novelty`` is true, and FCD plus bond-length/angle W1 against the first
    ``reference_size`` validation molecules when it is positive. Without hydrogens the stability metrics
    are left out.
    """

    sample_suffix = ".sdf"

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
        train_half: str | None = None,
        condition: str | None = None,
        condition_dropout: float = 0.0,
        num_atoms: int | None = None,
        novelty: bool = True,
        reference_size: int = 0,
        render_count: int = 20,
        remove_hydrogens: bool = False,
    ):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if source not in SOURCE_ELEMENTS:
            raise ConfigError(f"unknown molecule source {source!r}; choose one of: {', '.join(SOURCE_ELEMENTS)}")
        if source == "sdf" and path is None:
            raise ConfigError("source 'sdf' needs a path to an .sdf file")
        if train_half not in (None, "first", "second"):
            raise ConfigError(f"train_half must be 'first', 'second' or null, got {train_half!r}")
        if not 0.0 <= condition_dropout < 1.0:
            raise ConfigError(f"condition_dropout must be in [0, 1), got {condition_dropout}")
        if num_atoms is not None and num_atoms < 1:
            raise ConfigError(f"num_atoms must be >= 1, got {num_atoms}")
        self.save_hyperparameters()
        self.vocabulary = Vocabulary(tuple(elements or SOURCE_ELEMENTS[source]), tuple(charges))
        builtin = Vocabulary(SOURCE_ELEMENTS[source])
        if source != "sdf" and self.vocabulary != builtin:
            raise ConfigError(f"{source} uses elements {list(builtin.elements)} and charges "
                              f"{list(builtin.charges)}; got {list(self.vocabulary.elements)} and {list(charges)}")
        if remove_hydrogens:
            self.vocabulary = Vocabulary(tuple(e for e in self.vocabulary.elements if e != "H"), tuple(charges))
        self.implicit_hydrogens = remove_hydrogens
        self.tables: dict[str, MoleculeTable] = {}
        self.dropout_generator = torch.Generator().manual_seed(seed)
        self._train_smiles: set[str] | None = None

    # ------------------------------------------------------------------ data
    def setup(self, stage: str | None = None) -> None:
        if self.tables:
            return
        h = self.hparams
        if h.source == "qm9":
            tables = load_qm9(SPLITS, h.seed, h.max_molecules, h.cache_dir, h.remove_hydrogens)
        elif h.source == "moses":
            tables = {s: load_moses(s, h.seed, h.max_molecules or 1000, h.cache_dir) for s in SPLITS}
        else:
            tables = split_table(load_sdf_set(h.path, self.vocabulary), h.seed)
            if h.max_molecules is not None:
                tables = {s: t if len(t) <= h.max_molecules else t.subset(range(h.max_molecules))
                          for s, t in tables.items()}
        if h.remove_hydrogens and h.source != "qm9":  # (QM9 caches its tables without hydrogens)
            tables = {split: without_hydrogens(table) for split, table in tables.items()}
        tables["train"] = half_of(tables["train"], h.train_half)
        if h.condition is not None and h.condition not in tables["train"].property_names:
            raise ConfigError(f"condition {h.condition!r} is not a property of the {h.source} data; "
                              f"choose one of: {', '.join(tables['train'].property_names) or '(none)'}")
        self.tables = tables

    @property
    def num_atoms_histogram(self) -> torch.Tensor:
        self.setup()
        return num_atoms_histogram(self.tables["train"])

    @property
    def marginals(self) -> dict[str, torch.Tensor]:
        self.setup()
        return marginal_distributions(self.tables["train"])

    def property_values(self, split: str = "train") -> torch.Tensor:
        """The conditioning property of every molecule of ``split`` (float64, EDM units)."""
        self.setup()
        table = self.tables[split]
        return table.properties[:, table.property_names.index(self.hparams.condition)]

    @property
    def condition_stats(self) -> tuple[float, float]:
        """Mean and standard deviation of the conditioning property over the training split used."""
        values = self.property_values("train")
        return float(values.mean()), float(values.std())

    def normalise_condition(self, values: torch.Tensor) -> torch.Tensor:
        mean, std = self.condition_stats
        return ((values.double() - mean) / std).float()

    def _collate(self, dataset: MoleculeDataset, dropout: float):
        def collate(graphs):
            fields, context = dataset.collate(graphs)
            if self.hparams.condition is not None:
                condition = self.normalise_condition(context[self.hparams.condition])
                dropped = torch.rand(len(condition), generator=self.dropout_generator) < dropout
                context[CONDITION_KEY] = condition.masked_fill(dropped, float("nan"))
            return fields, context
        return collate

    def split_loader(self, split: str, shuffle: bool) -> DataLoader:
        self.setup()
        dataset = MoleculeDataset(self.tables[split], self.hparams.center)
        dropout = self.hparams.condition_dropout if split == "train" else 0.0
        generator = torch.Generator().manual_seed(self.hparams.seed)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
                          collate_fn=self._collate(dataset, dropout), generator=generator)

    # ------------------------------------------------------------------ sampling side
    def sample_template(self, num_samples: int, generator: torch.Generator | None = None):
        """Zero fields for ``num_samples`` molecules and their context (see the class docstring)."""
        self.setup()
        train = self.tables["train"]
        drawn = torch.randint(len(train), (num_samples,), generator=generator)
        counts = (torch.full((num_samples,), self.hparams.num_atoms) if self.hparams.num_atoms is not None
                  else train.num_atoms[drawn])
        n = int(counts.max())
        node_mask = torch.arange(n)[None, :] < counts[:, None]
        template = {"pos": torch.zeros(num_samples, n, 3), "atom_types": torch.zeros(num_samples, n, dtype=torch.long),
                    "charges": torch.zeros(num_samples, n, dtype=torch.long),
                    "bonds": torch.zeros(num_samples, n, n, dtype=torch.long)}
        context = {"node_mask": node_mask}
        if self.hparams.condition is not None:
            target = self.property_values("train")[drawn]
            context[self.hparams.condition] = target.float()
            context[CONDITION_KEY] = self.normalise_condition(target)
        return template, context

    def molecules(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor]) -> list[Molecule]:
        """Decode samples; conditional targets are kept as the property ``target_<name>``."""
        molecules = batch_to_molecules(samples, context, self.vocabulary)
        name = self.hparams.condition
        if name is not None and name in context:
            for molecule, value in zip(molecules, context[name].tolist(), strict=True):
                molecule.properties[f"target_{name}"] = value
        return molecules

    @property
    def train_smiles(self) -> set[str]:
        """Canonical SMILES of the valid training molecules (computed once; ~1.6 ms per molecule)."""
        if self._train_smiles is None:
            train = self.tables["train"]
            mols = (sanitized(train.molecule(i), self.implicit_hydrogens) for i in range(len(train)))
            self._train_smiles = {canonical_smiles(mol) for mol in mols if mol is not None}
        return self._train_smiles

    def evaluate_samples(self, samples, context) -> dict:
        self.setup()
        reference = None
        if self.hparams.reference_size > 0:
            val = self.tables["val"]
            reference = [val.molecule(i) for i in range(min(self.hparams.reference_size, len(val)))]
        known = self.train_smiles if self.hparams.novelty else None
        metrics = evaluate_molecules(self.molecules(samples, context), reference, self.implicit_hydrogens,
                                     fcd=reference is not None, known_smiles=known)
        if self.implicit_hydrogens:  # valence counts need the hydrogens: meaningless without them
            metrics = {k: v for k, v in metrics.items() if not k.endswith("_stability")}
        return metrics

    def write_samples(self, samples, context, path) -> Path:
        path = Path(path)
        write_sdf(self.molecules(samples, context), path, self.implicit_hydrogens)
        return path

    def render_samples(self, samples, context, path) -> Path:
        """The first ``render_count`` samples as 2D depictions captioned with SMILES ("invalid" otherwise) in
        ``path``, and as 3D ball-and-stick views of the generated coordinates and bonds in ``<stem>_3d.png``."""
        path = Path(path)
        shown = self.molecules(samples, context)[: self.hparams.render_count]
        mols = [sanitized(m, self.implicit_hydrogens) for m in shown]
        draw_grid(mols, path)
        draw_grid_3d(shown, path.with_name(f"{path.stem}_3d.png"),
                     titles=["invalid" if mol is None else canonical_smiles(mol) for mol in mols])
        return path
