"""Chamfer distance, in the convention of PointFlow (Yang et al. 2019) and PVD (Zhou et al. 2021).

For clouds ``X = {x_i}_{i<N}`` and ``Y = {y_j}_{j<M}``::

    CD(X, Y) = 1/N sum_i min_j |x_i - y_j|^2  +  1/M sum_j min_i |x_i - y_j|^2

i.e. *squared* Euclidean nearest-neighbour distances, *averaged* over the points of each cloud, and the two
directions *summed*. The one-directional term ``1/N sum_i min_j |x_i - y_j|^2`` is the directed Chamfer
distance ``X -> Y``. Examples: ``CD(X, X) = 0``; translating a lattice of spacing ``h`` by ``t`` with every
``|t_k| < h/2`` gives ``CD = 2 |t|^2`` (each point's nearest neighbour is its own translate).

Two implementations: :func:`chamfer_distance` compares clouds pair by pair with dense distance matrices in
torch (differentiable, any device); :func:`pairwise_chamfer` fills the all-pairs matrix between two sets with
compiled k-d trees (:mod:`domains.pointclouds.kdtree`, numba): one tree per cloud, built once, answers the
queries of every cloud of the other set (and its own points, in leaf order, are the queries of the other
direction). Exact in float64; the pairs run in parallel over ``workers`` numba threads. On one CPU core it costs
about half of what scipy's k-d trees or cache-blocked float32 products in torch cost (measured per pair of
2048-point clouds: ``benchmarks/pointclouds.py speed``, docs/pointclouds.md).
"""

from __future__ import annotations

import numpy as np
import torch

from domains.pointclouds.kdtree import build_trees, directed_sums, numba_threads

LEAF_SIZE = 32  # fastest of 8-64 at 2048 points (docs/pointclouds.md)


def chamfer_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Chamfer distance between paired clouds ``x`` [B, N, 3] and ``y`` [B, M, 3]; returns [B]."""
    squared = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").square()
    return squared.min(dim=2).values.mean(dim=1) + squared.min(dim=1).values.mean(dim=1)


def directed_chamfer(queries: np.ndarray, targets: np.ndarray, workers: int = -1) -> np.ndarray:
    """``D[a, b] = 1/N sum_i min_j |q_{a,i} - t_{b,j}|^2`` for query clouds [A, N, 3], target clouds [B, M, 3].

    One k-d tree per target cloud; the queries go in the leaf order of their own clouds' trees (neighbouring
    queries follow each other, so each starts from its predecessor's nearest point).
    """
    ordered = build_trees(queries, LEAF_SIZE).points
    with numba_threads(workers):
        return directed_sums(ordered, build_trees(targets, LEAF_SIZE)) / ordered.shape[1]


def pairwise_chamfer(x: np.ndarray, y: np.ndarray, workers: int = -1) -> np.ndarray:
    """All-pairs Chamfer distance ``D[s, r] = CD(x_s, y_r)`` between sets [S, N, 3] and [R, M, 3]. Each cloud's
    tree is built once and used in both directions; when ``y`` is ``x`` (the same object) one directed pass
    serves both: ``D = d + d^T``."""
    trees_x = build_trees(x, LEAF_SIZE)
    with numba_threads(workers):
        if y is x:
            directed = directed_sums(trees_x.points, trees_x, skip_diagonal=True) / trees_x.points.shape[1]
            return directed + directed.T
        trees_y = build_trees(y, LEAF_SIZE)
        forward = directed_sums(trees_x.points, trees_y) / trees_x.points.shape[1]
        return forward + (directed_sums(trees_y.points, trees_x) / trees_y.points.shape[1]).T
