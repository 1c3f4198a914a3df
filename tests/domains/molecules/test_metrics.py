import numpy as np
import pytest
from rdkit import Chem
from rdkit.Chem import AllChem

from domains.molecules.fcd import frechet_chemnet_distance, frechet_distance
from domains.molecules.geometry import bond_angles, bond_lengths, weighted_w1
from domains.molecules.io import write_sdf, write_xyz
from domains.molecules.metrics import evaluate_molecules
from domains.molecules.molecule import Molecule
from domains.molecules.strain import mmff_strain_energy
from domains.molecules.validity import canonical_smiles, sanitized
from sciddm.errors import ConfigError, DataError
from sciddm.evaluation import evaluate

from .conftest import embedded, molecule


def test_real_qm9_file_metrics(tmp_path, qm9_molecules):
    """QM9 itself through ``sciddm evaluate``'s registry: EDM reports 99.0 / 95.2 stability on the data."""
    generated, reference = qm9_molecules[:150], qm9_molecules[150:]
    write_sdf(generated, tmp_path / "gen.sdf")
    write_xyz(generated, tmp_path / "gen.xyz")
    write_sdf(reference, tmp_path / "ref.sdf")
    given = evaluate("molecules", tmp_path / "gen.sdf", tmp_path / "ref.sdf", fcd=False)
    assert given["bond_source"] == "file" and given["num_molecules"] == 150
    assert given["edm_atom_stability"] >= 0.985 and given["edm_molecule_stability"] >= 0.93
    assert given["valence_molecule_stability"] >= 0.99 and given["validity"] >= 0.97
    assert given["connected_validity"] >= 0.97 and given["uniqueness"] >= 0.97 and given["novelty"] >= 0.9
    assert given["bond_length_w1"] < 0.02 and given["bond_angle_w1"] < 3.0
    inferred = evaluate("molecules", tmp_path / "gen.xyz", fcd=False)
    assert inferred["bond_source"] == "inferred"
    assert inferred["edm_molecule_stability"] == given["edm_molecule_stability"]
    assert inferred["validity"] >= 0.9 and "novelty" not in inferred


def test_real_qm9_edm_convention_validity(qm9_molecules):
    """Inferred bonds, implicit hydrogens allowed: EDM's convention, 97.7% valid on QM9 in the EDM paper."""
    xyz = [Molecule(m.elements, m.positions) for m in qm9_molecules]
    assert evaluate_molecules(xyz, implicit_hydrogens=True, fcd=False)["validity"] >= 0.96


def test_noisy_coordinates_are_mostly_unstable(qm9_molecules):
    rng = np.random.default_rng(1)
    noisy = [Molecule(m.elements, m.positions + rng.normal(0, 0.3, m.positions.shape))
             for m in qm9_molecules[:100]]
    metrics = evaluate_molecules(noisy)
    assert metrics["edm_molecule_stability"] < 0.05 and metrics["edm_atom_stability"] < 0.9
    assert metrics["validity"] < 0.2


def test_uniqueness_and_novelty_by_hand():
    ethanol, methane, water = embedded("CCO"), embedded("C"), embedded("O")
    radical = Molecule(methane.elements[:4], methane.positions[:4], None, methane.bonds[:3])
    generated = [ethanol, embedded("CCO", seed=3), methane, radical]
    metrics = evaluate_molecules(generated, reference=[methane, water], fcd=False)
    assert metrics["validity"] == 0.75  # the radical is invalid
    assert metrics["uniqueness"] == pytest.approx(2 / 3)  # {CCO, C} among 3 valid
    assert metrics["novelty"] == 0.5  # CCO is new, C is not


def test_invalid_molecules_never_crash():
    nonsense = [
        molecule(["C"] + ["H"] * 5, [(0, k, 1) for k in range(1, 6)]),  # pentavalent carbon
        Molecule(["C", "C"], np.zeros((2, 3))),  # two atoms on top of each other, no bonds given
        Molecule(["Xe"], np.zeros((1, 3))),  # no valence entry
        Molecule(["C", "O"], np.array([[0.0, 0, 0], [np.nan, 0, 0]])),
    ]
    metrics = evaluate_molecules(nonsense, reference=nonsense)
    assert metrics["validity"] <= 0.25 and metrics["edm_molecule_stability"] == 0.0
    assert metrics["fcd"] is None  # fewer than two valid molecules


def test_fcd_is_zero_against_itself_and_symmetric(qm9_molecules):
    smiles = [canonical_smiles(sanitized(m)) for m in qm9_molecules[:100]]
    a, b = smiles[:50], smiles[50:]
    assert abs(frechet_chemnet_distance(a, a)) < 1e-3
    ab, ba = frechet_chemnet_distance(a, b), frechet_chemnet_distance(b, a)
    assert ab > 1.0 and ab == pytest.approx(ba, rel=1e-4)
    assert frechet_chemnet_distance(a, ["C"]) is None


def test_geometry_w1_under_uniform_scaling(qm9_molecules):
    """Scaling coordinates by s maps every length l to s l, so W1 per bond type is (s - 1) mean(l);
    angles are unchanged."""
    reference = qm9_molecules[:50]
    scaled = [Molecule(m.elements, 1.1 * m.positions, m.charges, m.bonds) for m in reference]
    lengths = bond_lengths(reference)
    expected = sum(len(v) * 0.1 * v.mean() for v in lengths.values()) / sum(len(v) for v in lengths.values())
    assert weighted_w1(bond_lengths(scaled), lengths) == pytest.approx(expected, rel=1e-9)
    assert weighted_w1(bond_angles(scaled), bond_angles(reference)) == pytest.approx(0.0, abs=1e-9)


def test_bond_angles_of_ideal_methane_are_tetrahedral():
    corners = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) * 0.63
    methane = molecule(["C", "H", "H", "H", "H"], [(0, k, 1) for k in range(1, 5)],
                       positions=np.vstack([np.zeros(3), corners]))
    angles = bond_angles([methane])
    assert set(angles) == {"C"} and len(angles["C"]) == 6
    np.testing.assert_allclose(angles["C"], np.degrees(np.arccos(-1 / 3)), atol=1e-9)


def test_weighted_w1_without_shared_classes_is_none():
    assert weighted_w1({1: np.array([1.0])}, {2: np.array([1.0])}) is None


def test_evaluate_file_names_bad_reference(tmp_path):
    write_xyz([embedded("C")], tmp_path / "gen.xyz")
    (tmp_path / "ref.xyz").write_text("3\n\nC 0 0 0\n")
    with pytest.raises(DataError, match=r"ref\.xyz, record 1: declares 3 atoms"):
        evaluate("molecules", tmp_path / "gen.xyz", tmp_path / "ref.xyz")


def test_frechet_distance_of_diagonal_gaussians_in_closed_form():
    """For diagonal covariances FD = |m_a - m_b|^2 + sum_k (sqrt(a_k) - sqrt(b_k))^2; rotating both
    Gaussians by the same orthogonal matrix leaves it unchanged."""
    rng = np.random.default_rng(0)
    mean_a, mean_b = rng.normal(size=6), rng.normal(size=6)
    var_a, var_b = rng.uniform(0.1, 2.0, 6), np.r_[rng.uniform(0.1, 2.0, 5), 0.0]
    expected = ((mean_a - mean_b) ** 2).sum() + ((np.sqrt(var_a) - np.sqrt(var_b)) ** 2).sum()
    rotation, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    got = frechet_distance(rotation @ mean_a, rotation @ np.diag(var_a) @ rotation.T,
                           rotation @ mean_b, rotation @ np.diag(var_b) @ rotation.T)
    assert got == pytest.approx(expected, rel=1e-7)  # sqrt of a rounding-level eigenvalue: ~1e-8


def test_unknown_evaluation_option_is_a_config_error(tmp_path):
    write_xyz([embedded("C")], tmp_path / "gen.xyz")
    with pytest.raises(ConfigError, match="unknown molecules evaluation option 'fdc'"):
        evaluate("molecules", tmp_path / "gen.xyz", fdc=False)


def test_strain_of_a_stretched_ethane_bond_matches_mmff_closed_form():
    """Moving one CH3 rigidly along the C-C axis changes only the MMFF bond-stretch term:
    E = 143.9325 kb / 2 dr^2 (1 + cs dr + 7/12 cs^2 dr^2), kb = 4.258 md/A, cs = -2 (Halgren, 1996)."""
    ethane = Chem.AddHs(Chem.MolFromSmiles("CC"))
    AllChem.EmbedMolecule(ethane, randomSeed=1)
    AllChem.MMFFOptimizeMolecule(ethane, maxIters=5000)
    assert abs(mmff_strain_energy(ethane)) < 1e-3
    positions = ethane.GetConformer().GetPositions()
    axis = (positions[1] - positions[0]) / np.linalg.norm(positions[1] - positions[0])
    dr = 0.1
    stretched = Chem.Mol(ethane)
    for atom in (1, 5, 6, 7):  # the second carbon and its hydrogens
        stretched.GetConformer().SetAtomPosition(atom, (positions[atom] + dr * axis).tolist())
    closed_form = 143.9325 * 4.258 / 2 * dr ** 2 * (1 - 2 * dr + 7 / 12 * 4 * dr ** 2)
    assert mmff_strain_energy(stretched) == pytest.approx(closed_form, rel=0.01)


def test_strain_metric_counts_only_valid_molecules():
    radical = molecule(["C", "H", "H", "H"], [(0, k, 1) for k in range(1, 4)])
    metrics = evaluate_molecules([embedded("CCO"), radical], fcd=False, strain=True)
    assert metrics["strain_energy_count"] == 1 and metrics["strain_energy_mean"] > 0.0
    assert metrics["strain_energy_mean"] == metrics["strain_energy_median"]
