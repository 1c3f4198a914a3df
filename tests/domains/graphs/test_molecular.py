import pytest
from rdkit import Chem

from domains.graphs import molecular
from sciddm.errors import DataError


def test_real_qm9_molecules_round_trip_through_graphs():
    smiles = molecular.qm9_smiles(1000)
    graphs = molecular.smiles_to_graphs(smiles, molecular.QM9_ATOMS)
    back = [molecular.canonical_smiles(g, molecular.QM9_ATOMS) for g in graphs]
    assert all(s is not None for s in back)
    same = sum(b == Chem.MolToSmiles(Chem.MolFromSmiles(s)) for b, s in zip(back, smiles, strict=True))
    assert same / len(smiles) > 0.99  # charges are not represented, a few zwitterions change


def test_benzene_is_kekulized_and_pentavalent_carbon_is_invalid():
    g = molecular.smiles_to_graphs(["c1ccccc1"], molecular.QM9_ATOMS)[0]
    assert sorted(t for _, _, t in g.edges(data="type")) == [1, 1, 1, 2, 2, 2]
    g.add_edge(0, 3, type=2)  # carbon 0 now has valence 5
    assert molecular.graph_to_mol(g, molecular.QM9_ATOMS) is None


def test_bad_smiles_and_unknown_element_name_the_record():
    with pytest.raises(DataError, match=r"list.smi, record 1: invalid SMILES"):
        molecular.smiles_to_graphs(["C", "C1CC"], molecular.QM9_ATOMS, "list.smi")
    with pytest.raises(DataError, match=r"record 0: element S not in alphabet"):
        molecular.smiles_to_graphs(["CS"], molecular.QM9_ATOMS, "list.smi")
