import numpy as np
import pytest
import torch
from rdkit import Chem

from domains.molecules.batching import batch_to_molecules, dense_batch, molecule_graph
from domains.molecules.data import (
    MoleculeDataModule,
    load_sdf_set,
    marginal_distributions,
    num_atoms_histogram,
)
from domains.molecules.elements import Vocabulary
from domains.molecules.io import write_sdf
from domains.molecules.moses import load_moses, split_smiles
from domains.molecules.qm9 import bonds_from_smiles, load_qm9, parse_row, read_qm9_csv, split_rows
from domains.molecules.table import MoleculeTable
from domains.molecules.validity import canonical_smiles, sanitized
from sciddm.errors import ConfigError, DataError

from .conftest import QM9_SAMPLE, embedded


def test_split_is_the_edm_split_and_seeded():
    splits = split_rows(130_831, seed=0)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [100_000, 17_748, 13_083]
    assert len(np.unique(np.concatenate(list(splits.values())))) == 130_831
    np.testing.assert_array_equal(split_rows(130_831, 0)["test"], splits["test"])
    assert not np.array_equal(split_rows(130_831, 1)["test"], splits["test"])


@pytest.fixture(scope="module")
def qm9_rows():
    return read_qm9_csv()


def test_qm9_csv_has_every_molecule_and_methane_first(qm9_rows):
    assert len(qm9_rows) == 130_831
    elements, positions = parse_row(qm9_rows.iloc[0])
    assert elements == ["C", "H", "H", "H", "H"]
    ch = np.linalg.norm(positions[1:] - positions[0], axis=1)
    np.testing.assert_allclose(ch, 1.0919, atol=5e-4)  # B3LYP C-H bond length of methane


def test_bonds_and_charges_of_a_qm9_zwitterion(qm9_rows):
    row = qm9_rows[qm9_rows.Index == 271].iloc[0]
    assert row.SMILES == "[NH3+]CCC([O-])=O"
    elements, positions = parse_row(row)
    charges, bonds = bonds_from_smiles(row.SMILES, elements, positions)
    assert elements[0] == "N" and charges[0] == 1
    oxygens = [i for i, e in enumerate(elements) if e == "O"]
    single_o = [i for i in oxygens if any(k == 1 and i in (a, b) for a, b, k in bonds)]
    double_o = [i for i in oxygens if any(k == 2 and i in (a, b) for a, b, k in bonds)]
    assert charges[single_o].tolist() == [-1] and charges[double_o].tolist() == [0]
    assert len(bonds) == len(elements) - 1  # acyclic: a tree over 13 atoms
    lengths = {k: np.linalg.norm(positions[a] - positions[b]) for a, b, k in bonds if k == 2}
    assert all(1.19 < d < 1.28 for d in lengths.values())  # C=O of a carboxylate


def test_qm9_cache_is_reused(qm9_cache, qm9_test_table):
    cached = qm9_cache / "qm9_v1_test_seed0_400.pt"
    stamp = cached.stat().st_mtime_ns
    again = load_qm9(("test",), seed=0, max_molecules=QM9_SAMPLE, cache_dir=qm9_cache)["test"]
    assert cached.stat().st_mtime_ns == stamp and not list(qm9_cache.glob(".*"))  # read, not rewritten
    assert torch.equal(again.positions, qm9_test_table.positions) and again.names == qm9_test_table.names


def test_qm9_bad_options():
    with pytest.raises(ConfigError, match="unknown QM9 split 'dev'"):
        load_qm9(("dev",))
    with pytest.raises(ConfigError, match="max_molecules must be positive"):
        load_qm9(("test",), max_molecules=0)


def test_dense_batch_matches_each_molecule(qm9_test_table):
    graphs = [molecule_graph(qm9_test_table, i) for i in range(5)]
    fields, context = dense_batch(graphs, qm9_test_table.property_names)
    sizes = qm9_test_table.num_atoms[:5]
    assert context["node_mask"].sum(dim=1).tolist() == sizes.tolist()
    assert torch.equal(fields["bonds"], fields["bonds"].transpose(1, 2))
    assert fields["bonds"].diagonal(dim1=1, dim2=2).abs().sum() == 0
    for b in range(5):
        source = qm9_test_table.molecule(b)
        n = source.num_atoms
        assert torch.equal(fields["bonds"][b, :n, :n], torch.from_numpy(source.bond_matrix()))
        assert fields["bonds"][b, n:].abs().sum() == 0 and fields["pos"][b, n:].abs().sum() == 0
        centred = source.positions - source.positions.mean(axis=0)
        np.testing.assert_allclose(fields["pos"][b, :n].numpy(), centred, atol=1e-5)
        assert context["gap"][b].item() == pytest.approx(source.properties["gap"], rel=1e-6)
    decoded = batch_to_molecules(fields, context, qm9_test_table.vocabulary)
    for b, molecule in enumerate(decoded):
        source = qm9_test_table.molecule(b)
        assert molecule.elements == source.elements
        assert np.array_equal(molecule.charges, source.charges) and np.array_equal(molecule.bonds, source.bonds)


def test_histogram_and_marginals_by_hand():
    table = MoleculeTable.from_molecules([embedded("C"), embedded("CC"), embedded("[NH4+]")], Vocabulary())
    assert num_atoms_histogram(table).tolist() == [0, 0, 0, 0, 0, 2, 0, 0, 1]
    marginals = marginal_distributions(table)
    # atoms: H 4+6+4 = 14, C 1+2 = 3, N 1 of 18
    torch.testing.assert_close(marginals["atom_types"], torch.tensor([14, 3, 1, 0, 0], dtype=torch.float64) / 18)
    torch.testing.assert_close(marginals["charges"], torch.tensor([0, 17, 1], dtype=torch.float64) / 18)
    # pairs: 10 + 28 + 10 = 48; single bonds 4 + 7 + 4 = 15
    torch.testing.assert_close(marginals["bonds"], torch.tensor([33, 15, 0, 0, 0], dtype=torch.float64) / 48)


def test_datamodule_on_a_user_sdf_set(tmp_path):
    smiles = ["C", "CC", "CO", "CN", "C=O", "C#N", "O", "N", "CCO", "CCC", "c1ccccc1", "[NH4+]"]
    path = tmp_path / "set.sdf"
    write_sdf([embedded(s) for s in smiles], path)
    module = MoleculeDataModule(source="sdf", path=str(path), batch_size=4, seed=3)
    module.setup()
    assert {s: len(t) for s, t in module.tables.items()} == {"train": 10, "val": 1, "test": 1}
    batches = list(module.train_dataloader())
    assert sum(b[1]["node_mask"].shape[0] for b in batches) == 10
    total_atoms = sum(int(b[1]["node_mask"].sum()) for b in batches)
    assert total_atoms == int(module.tables["train"].num_atoms.sum())
    again = [b[1]["node_mask"].sum().item() for b in MoleculeDataModule(
        source="sdf", path=str(path), batch_size=4, seed=3).train_dataloader()]
    assert again == [b[1]["node_mask"].sum().item() for b in batches]  # same seed, same order


def test_user_sdf_with_foreign_element_or_charge_is_rejected(tmp_path):
    path = tmp_path / "set.sdf"
    write_sdf([embedded("CO"), embedded("CCl")], path)
    with pytest.raises(DataError, match=r"set\.sdf, record 2: elements \['Cl'\] are not in the vocabulary"):
        load_sdf_set(path, Vocabulary())
    write_sdf([embedded("CO"), embedded("C[O-]")], path)
    with pytest.raises(DataError, match=r"record 2: formal charges \[-1\] are not in the alphabet \[0\]"):
        load_sdf_set(path, Vocabulary(charges=(0,)))


def test_datamodule_bad_configuration():
    with pytest.raises(ConfigError, match="unknown molecule source 'zinc'"):
        MoleculeDataModule(source="zinc")
    with pytest.raises(ConfigError, match="needs a path"):
        MoleculeDataModule(source="sdf")


def test_builtin_sources_fix_their_vocabulary():
    with pytest.raises(ConfigError, match=r"qm9 uses elements \['H', 'C', 'N', 'O', 'F'\]"):
        MoleculeDataModule(source="qm9", elements=("C", "H"))
    with pytest.raises(ConfigError, match=r"moses uses elements .* and charges \[-1, 0, 1\]"):
        MoleculeDataModule(source="moses", charges=(0,))


def test_moses_split_and_conformers(tmp_path):
    val = split_smiles("val", seed=0)
    assert len(val) == len(set(val)) == 10_000
    table = load_moses("val", seed=0, max_molecules=4, cache_dir=tmp_path)
    assert table.names == val[:4]  # the first four all embed
    for i in range(4):
        molecule = table.molecule(i)
        mol = sanitized(molecule)
        assert mol is not None and canonical_smiles(mol) == Chem.CanonSmiles(val[i])
        bonded = molecule.positions[molecule.bonds[:, 0]] - molecule.positions[molecule.bonds[:, 1]]
        assert np.linalg.norm(bonded, axis=1).max() < 2.0  # a real 3D embedding, bonds of sane length


def test_qm9_datamodule_batches_real_molecules(qm9_cache):
    module = MoleculeDataModule(source="qm9", max_molecules=40, batch_size=16, cache_dir=str(qm9_cache))
    module.setup()
    assert {s: len(t) for s, t in module.tables.items()} == {"train": 40, "val": 40, "test": 40}
    histogram = module.num_atoms_histogram
    assert histogram.sum() == 40 and histogram[:3].sum() == 0 and len(histogram) <= 30  # QM9: 3..29 atoms
    fields, context = next(iter(module.val_dataloader()))  # unshuffled: the first 16 validation molecules
    first = module.tables["val"].molecule(0)
    assert int(context["node_mask"][0].sum()) == first.num_atoms
    elements = [module.vocabulary.elements[k] for k in fields["atom_types"][0, :first.num_atoms].tolist()]
    assert elements == first.elements
    assert context["U0"][0].item() == pytest.approx(first.properties["U0"], rel=1e-6)
    assert module.marginals["atom_types"][0] > 0.4  # QM9 atoms are about half hydrogens
