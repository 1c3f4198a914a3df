import numpy as np
import pytest
import torch
from PIL import Image
from rdkit import Chem

from domains.molecules.batching import dense_batch, molecule_graph
from domains.molecules.drawing import draw_grid
from domains.molecules.drawing3d import bond_sticks, draw_grid_3d
from domains.molecules.elements import Vocabulary
from domains.molecules.rewards import LOGP_FLOOR, QED_FLOOR, SA_FLOOR, batch_reward, logp, qed, sa_score
from domains.molecules.table import MoleculeTable
from domains.molecules.validity import sanitized

from .conftest import embedded


def test_logp_of_benzene_is_the_sum_of_crippen_contributions():
    """Wildman & Crippen (1999): aromatic C (type C18) 0.1581, H on aromatic C (H1) 0.1230."""
    benzene = sanitized(embedded("c1ccccc1"))
    assert logp([benzene]).item() == pytest.approx(6 * (0.1581 + 0.1230), abs=1e-10)


def test_qed_and_sa_known_values_and_floors():
    aspirin = sanitized(embedded("CC(=O)Oc1ccccc1C(=O)O"))
    benzene = sanitized(embedded("c1ccccc1"))
    values = qed([aspirin, None])
    assert values[0].item() == pytest.approx(0.55, abs=0.005)  # the commonly quoted QED of aspirin
    assert values[1].item() == QED_FLOOR
    sa = sa_score([benzene, aspirin, None])
    assert sa[0].item() == 1.0  # SA is clipped to [1, 10]; benzene reaches the easy end
    assert 1.0 < sa[1].item() < 3.0 and sa[2].item() == SA_FLOOR
    assert logp([None]).item() == LOGP_FLOOR


def test_batch_reward_matches_the_list_version_and_floors_invalid():
    molecules = [embedded("CCO"), embedded("c1ccccc1"), embedded("C")]
    table = MoleculeTable.from_molecules(molecules, Vocabulary())
    fields, context = dense_batch([molecule_graph(table, i) for i in range(3)])
    fields["bonds"][2] = 0  # methane without bonds: five isolated radicals, invalid
    got = batch_reward("qed", fields, context, Vocabulary())
    want = qed([sanitized(m) for m in molecules[:2]])
    torch.testing.assert_close(got[:2], want)
    assert got[2].item() == QED_FLOOR


def test_grid_picture_has_one_cell_per_molecule_and_marks_invalid_ones(tmp_path):
    mols = [sanitized(embedded(s)) for s in ("CCO", "c1ccccc1", "CC(=O)O")] + [None]
    path = tmp_path / "grid.png"
    draw_grid(mols, path, per_row=3, cell_size=(200, 150))
    image = np.asarray(Image.open(path).convert("L"))
    assert image.shape == (2 * 150, 3 * 200)
    first, invalid = image[:150, :200], image[150:, :200]
    assert (first < 128).sum() > 100  # bonds and captions drawn
    assert 0 < (invalid < 128).sum() < (first < 128).sum()  # only "*" and the "invalid" caption
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_sanitized_molecule_smiles_caption_is_canonical():
    assert Chem.MolToSmiles(Chem.RemoveHs(sanitized(embedded("OCC")))) == "CCO"


def test_bond_sticks_join_bonded_atoms_and_are_inferred_without_bonds():
    ethanol = embedded("CCO")
    sticks = bond_sticks(ethanol)
    assert len(sticks) == 8 and sorted(code for _, _, code in sticks) == [1] * 8
    for start, end, _ in sticks:
        assert 0.9 < np.linalg.norm(end - start) < 1.6  # C-H, O-H, C-C, C-O lengths
    xyz_like = ethanol.with_bonds(None)
    inferred = bond_sticks(xyz_like)
    assert len(inferred) == 8
    assert sorted(map(tuple, np.round([np.concatenate([a, b]) for a, b, _ in inferred], 6))) == sorted(
        map(tuple, np.round([np.concatenate([a, b]) for a, b, _ in sticks], 6)))


def red_pixels(cell: np.ndarray) -> int:
    return int(((cell[..., 0] > 200) & (cell[..., 1] < 60) & (cell[..., 2] < 60)).sum())


def blue_pixels(cell: np.ndarray) -> int:
    return int(((cell[..., 2] > 200) & (cell[..., 0] < 100) & (cell[..., 1] < 120)).sum())


def test_3d_grid_has_one_cell_per_molecule_coloured_by_element(tmp_path):
    molecules = [embedded("CCO"), embedded("c1ccccc1"), embedded("c1ccncc1"), embedded("C")]
    path = draw_grid_3d(molecules, tmp_path / "grid_3d.png", per_row=3, cell_inches=2.0, dpi=50)
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape == (2 * 100, 3 * 100, 3)
    ethanol, benzene, pyridine = image[:100, :100], image[:100, 100:200], image[:100, 200:]
    assert red_pixels(ethanol) > 5 and red_pixels(benzene) == 0 and red_pixels(pyridine) == 0  # oxygen
    assert blue_pixels(pyridine) > 5 and blue_pixels(ethanol) == 0 and blue_pixels(benzene) == 0  # nitrogen
    assert not list(tmp_path.glob(".*"))
