"""The compiled k-d tree search against float64 brute force, on random and adversarial clouds."""

import numba
import numpy as np
import pytest
import torch

from domains.pointclouds.chamfer import directed_chamfer, pairwise_chamfer
from domains.pointclouds.kdtree import build_trees, directed_sums, nearest_squared_distances, numba_threads, tree_depth


def brute_force_sums(queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``S[a, b] = sum_i min_j |q_ai - t_bj|^2`` by the full distance tensor."""
    squared = ((queries[:, None, :, None] - targets[None, :, None]) ** 2).sum(-1)
    return squared.min(3).sum(2)


def adversarial_clouds(rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(queries [A, N, 3], targets [B, M, 3]) pairs that stress the tree's splits and bounds."""
    cube = rng.uniform(-1, 1, size=(3, 64, 3))
    one_point = rng.normal(size=(4, 1, 3))
    duplicates = np.repeat(rng.normal(size=(2, 8, 3)), 9, axis=1)  # 72 points, each 9 times
    flat = rng.normal(size=(3, 100, 3)) * np.array([1.0, 1e-6, 1e3])  # 9 decades between the axes
    return {
        "random": (rng.normal(size=(3, 50, 3)), rng.normal(size=(4, 70, 3))),
        "far queries": (cube + 50.0, cube),
        "duplicated points": (duplicates[:, ::-1] + 0.01 * rng.normal(size=(2, 72, 3)), duplicates),
        "one identical point repeated": (rng.normal(size=(2, 30, 3)), np.full((2, 33, 3), 0.25)),
        "points on a line": (cube, np.outer(np.linspace(-1, 1, 40), [1.0, 2.0, -0.5])[None].repeat(2, axis=0)),
        "very anisotropic": (flat, flat[::-1] + np.array([0.0, 0.0, 1.0])),
        "integer lattice (ties)": (np.argwhere(np.ones((4, 4, 4)))[None] + 0.5, np.argwhere(np.ones((5, 5, 5)))[None]),
        "target of one point": (rng.normal(size=(2, 20, 3)), one_point),
        "query of one point": (one_point, rng.normal(size=(3, 33, 3))),
    }


@pytest.mark.parametrize("leaf_size", [1, 3, 32])
def test_directed_sums_equal_brute_force_on_adversarial_clouds(leaf_size):
    for name, (queries, targets) in adversarial_clouds(np.random.default_rng(0)).items():
        queries, targets = queries.astype(np.float64), targets.astype(np.float64)
        trees = build_trees(targets, leaf_size)
        found = directed_sums(build_trees(queries, leaf_size).points, trees)  # queries in leaf order
        np.testing.assert_allclose(found, brute_force_sums(queries, targets), rtol=1e-12, atol=1e-12, err_msg=name)
        for a, b in np.ndindex(len(queries), len(targets)):  # each nearest distance exactly as brute force has it
            squared = ((queries[a][:, None] - targets[b][None]) ** 2).sum(-1)
            np.testing.assert_array_equal(nearest_squared_distances(queries[a], trees, b), squared.min(1), name)


def test_tree_holds_a_permutation_with_every_point_inside_its_leaf_and_ancestor_boxes():
    rng = np.random.default_rng(1)
    clouds = rng.normal(size=(2, 100, 3)) * np.array([3.0, 1.0, 0.1])
    trees = build_trees(clouds, leaf_size=8)
    assert trees.depth == tree_depth(100, 8) == 4  # 100 / 2^4 = 6.25 <= 8 < 100 / 2^3
    np.testing.assert_array_equal(trees.leaf_starts, [0, 6, 12, 18, 25, 31, 37, 43, 50, 56, 62, 68, 75, 81, 87,
                                                      93, 100])  # halves rounded down, recursively  # fmt: skip
    for cloud, ordered, low, high in zip(clouds, *trees[:3], strict=True):
        np.testing.assert_array_equal(np.sort(ordered, axis=0), np.sort(cloud, axis=0))
        for leaf in range(16):
            points = ordered[trees.leaf_starts[leaf] : trees.leaf_starts[leaf + 1]]
            node = 15 + leaf
            while True:  # the leaf's points lie in the box of the leaf and of every ancestor; the leaf's is tight
                assert np.all(points >= low[node]) and np.all(points <= high[node])
                if node == 0:
                    break
                node = (node - 1) // 2
            np.testing.assert_array_equal([points.min(0), points.max(0)], [low[15 + leaf], high[15 + leaf]])


def test_first_split_is_along_the_longest_side():
    cloud = np.stack([np.zeros(8), np.arange(8.0)[::-1] * 10, np.arange(8.0)], axis=1)[None]  # y spans 70
    ordered = build_trees(cloud, leaf_size=4).points[0]
    np.testing.assert_array_equal(ordered[:, 1], np.arange(8.0) * 10)


def test_chamfer_is_the_same_on_one_and_on_all_threads_and_symmetric_within_a_set():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 40, 3)), rng.normal(size=(3, 25, 3))
    one = pairwise_chamfer(x, y, workers=1)
    np.testing.assert_array_equal(pairwise_chamfer(x, y, workers=-1), one)
    expected = brute_force_sums(x, y) / 40 + (brute_force_sums(y, x) / 25).T
    np.testing.assert_allclose(one, expected, rtol=1e-12)
    within = pairwise_chamfer(x, x)
    np.testing.assert_array_equal(within, within.T)
    np.testing.assert_allclose(within, brute_force_sums(x, x) / 40 + (brute_force_sums(x, x) / 40).T, rtol=1e-12)
    np.testing.assert_allclose(directed_chamfer(y, x, workers=1), brute_force_sums(y, x) / 25, rtol=1e-12)


def test_numba_threads_restores_numbas_and_torchs_thread_counts():
    before, torch_before = numba.get_num_threads(), torch.get_num_threads()
    with numba_threads(1):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before and torch.get_num_threads() == torch_before
    x = np.random.default_rng(4).normal(size=(2, 20, 3))
    pairwise_chamfer(x, x[::-1], workers=-1)  # with numba's OpenMP layer this once left torch on all threads
    assert torch.get_num_threads() == torch_before
