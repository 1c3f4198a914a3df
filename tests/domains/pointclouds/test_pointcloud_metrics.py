"""Chamfer, EMD and the set metrics against closed forms, brute force and hand-counted cases."""

import itertools

import numpy as np
import pytest
import torch

from domains.pointclouds.chamfer import chamfer_distance, directed_chamfer, pairwise_chamfer
from domains.pointclouds.emd import emd_exact, emd_sinkhorn, pairwise_emd
from domains.pointclouds.io import write_points
from domains.pointclouds.metrics import coverage, evaluate_file, minimum_matching_distance, one_nn_accuracy, set_metrics
from domains.pointclouds.shapes import generate_family
from sciddm.errors import ConfigError, DataError

LATTICE = np.stack(np.meshgrid(*[np.arange(4.0)] * 3, indexing="ij"), -1).reshape(-1, 3)  # spacing 1
SHIFT = np.array([0.2, -0.1, 0.3])


def brute_force_chamfer(x, y):
    squared = ((x[:, None] - y[None]) ** 2).sum(-1)
    return squared.min(1).mean() + squared.min(0).mean()


def test_chamfer_of_a_set_with_itself_is_zero():
    cloud = np.random.default_rng(0).normal(size=(100, 3))
    assert chamfer_distance(torch.tensor(cloud[None]), torch.tensor(cloud[None])).item() == 0
    assert pairwise_chamfer(cloud[None], cloud[None])[0, 0] == 0


def test_chamfer_of_a_translated_lattice_is_twice_the_squared_shift():
    expected = 2 * (SHIFT**2).sum()
    paired = chamfer_distance(torch.tensor(LATTICE[None]), torch.tensor(LATTICE[None] + SHIFT))
    assert paired.item() == pytest.approx(expected)
    assert pairwise_chamfer(LATTICE[None], LATTICE[None] + SHIFT)[0, 0] == pytest.approx(expected)


def test_pairwise_chamfer_matches_brute_force():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(3, 40, 3)), rng.normal(size=(4, 30, 3))
    expected = np.array([[brute_force_chamfer(a, b) for b in y] for a in x])
    np.testing.assert_allclose(pairwise_chamfer(x, y), expected, rtol=1e-10)
    paired = chamfer_distance(torch.tensor(x[:3]), torch.tensor(y[:3])).numpy()
    np.testing.assert_allclose(paired, np.diag(expected[:, :3]), rtol=1e-10)


def test_pairwise_chamfer_within_one_set_and_directed_with_unequal_sizes_match_brute_force():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 50, 3)), rng.normal(size=(3, 20, 3))
    within = np.array([[brute_force_chamfer(a, b) for b in x] for a in x])
    np.testing.assert_allclose(pairwise_chamfer(x, x), within, rtol=1e-10, atol=1e-15)  # one directed pass
    assert np.all(np.diag(pairwise_chamfer(x, x)) == 0)
    squared = ((x[:, None, :, None] - y[None, :, None]) ** 2).sum(-1)  # [5, 3, 50, 20]
    np.testing.assert_allclose(directed_chamfer(x, y, workers=1), squared.min(3).mean(2), rtol=1e-10)


def test_exact_emd_of_a_translation_is_the_shift_length():
    cloud = np.random.default_rng(2).normal(size=(60, 3))
    assert emd_exact(cloud, cloud[::-1] + SHIFT) == pytest.approx(np.linalg.norm(SHIFT))
    assert emd_exact(cloud, cloud[np.random.default_rng(3).permutation(60)]) == 0


def test_exact_emd_matches_brute_force_over_permutations():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    best = min(np.linalg.norm(x - y[list(p)], axis=1).mean() for p in itertools.permutations(range(6)))
    assert emd_exact(x, y) == pytest.approx(best)


def test_sinkhorn_is_an_upper_bound_within_the_stated_tolerance():
    """Measured on procedural shapes (docs/pointclouds.md): never below exact, at most 4 % above at N <= 256."""
    tori, _ = generate_family("torus", 4, 128, seed=0)
    quadrics, _ = generate_family("superquadric", 4, 128, seed=1)
    exact = np.array([emd_exact(a, b) for a, b in zip(tori, quadrics, strict=True)])
    approx = emd_sinkhorn(torch.tensor(tori), torch.tensor(quadrics)).numpy()
    assert np.all(approx >= exact * (1 - 1e-6)) and np.all(approx <= exact * 1.04)
    shifted = emd_sinkhorn(torch.tensor(tori), torch.tensor(tori + SHIFT)).numpy()
    np.testing.assert_allclose(shifted, np.linalg.norm(SHIFT), rtol=0.04)
    np.testing.assert_allclose(pairwise_emd(tori[:2], quadrics[:2], "sinkhorn").diagonal(), approx[:2], rtol=1e-5)


def test_emd_needs_equal_sizes():
    with pytest.raises(ConfigError, match="EMD compares clouds of equal size, got 3 and 4 points"):
        emd_exact(np.zeros((3, 3)), np.zeros((4, 3)))


def test_mmd_and_coverage_hand_counted():
    distances = np.array([[1.0, 5.0, 4.0], [2.0, 0.5, 3.0]])  # 2 samples x 3 references
    assert minimum_matching_distance(distances) == pytest.approx((1.0 + 0.5 + 3.0) / 3)
    assert coverage(distances) == pytest.approx(2 / 3)  # references 0 and 1 are matched, 2 is not


def test_one_nn_accuracy_hand_counted():
    """Samples at 0 and 1, references at 10 and 1.2 on a line (distance |a - b|): NN(0)=1 (S, right),
    NN(1)=1.2 (R, wrong), NN(10)=1.2 (R, right), NN(1.2)=1 (S, wrong) -> 2/4."""
    samples, references = np.array([0.0, 1.0]), np.array([10.0, 1.2])
    d = lambda a, b: np.abs(a[:, None] - b[None])  # noqa: E731
    assert one_nn_accuracy(d(samples, samples), d(samples, references), d(references, references)) == 0.5


def test_one_nna_is_near_half_for_one_distribution_and_one_for_two():
    tori_a, _ = generate_family("torus", 24, 256, seed=10)
    tori_b, _ = generate_family("torus", 24, 256, seed=11)
    tables, _ = generate_family("table", 24, 256, seed=12)
    same = set_metrics(tori_a, tori_b)["one_nna_cd"]
    assert 0.3 < same < 0.7  # 0.5 +- 3.5 standard deviations of a fair 48-draw accuracy
    different = set_metrics(tori_a, tables)
    assert different["one_nna_cd"] == 1.0 and different["cov_cd"] < 0.5


def test_evaluate_file_against_itself(tmp_path):
    clouds, _ = generate_family("superquadric", 6, 64, seed=3)
    write_points(tmp_path / "samples.npy", clouds)
    result = evaluate_file(tmp_path / "samples.npy", tmp_path / "samples.npy", normalization="unit_sphere", emd="exact")
    assert result["mmd_cd"] == 0 and result["mmd_emd"] == 0 and result["cov_cd"] == 1.0 and result["cov_emd"] == 1.0
    assert result["one_nna_cd"] == 0.0  # every cloud's nearest neighbour is its copy in the other set
    assert result["mean_radius"] == pytest.approx(1.0) and result["n_clouds"] == 6 and result["n_points"] == 64
    alone = evaluate_file(tmp_path / "samples.npy")
    assert "mmd_cd" not in alone and alone["mean_radius"] == pytest.approx(
        np.linalg.norm(clouds - clouds.mean(1, keepdims=True), axis=2).max(1).mean()
    )


def test_evaluate_file_bad_input(tmp_path):
    bad = np.zeros((2, 5, 3))
    bad[1, 2, 1] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(DataError, match=r"bad\.npy, record cloud 1, point 2"):
        evaluate_file(tmp_path / "bad.npy")
    write_points(tmp_path / "a.npy", np.zeros((2, 5, 3)))
    write_points(tmp_path / "b.npy", np.ones((2, 6, 3)))
    with pytest.raises(ConfigError, match=r"EMD needs equal cloud sizes: .*a\.npy has 5 points per cloud"):
        evaluate_file(tmp_path / "a.npy", tmp_path / "b.npy", emd="exact")
    with pytest.raises(ConfigError, match="unknown EMD method 'fast'"):
        evaluate_file(tmp_path / "a.npy", tmp_path / "a.npy", emd="fast")
    with pytest.raises(ConfigError, match="unknown pointclouds evaluation option"):
        evaluate_file(tmp_path / "a.npy", tmp_path / "a.npy", epsilon=0.01, normalisation="unit_box")
