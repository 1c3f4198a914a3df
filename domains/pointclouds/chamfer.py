"""Chamfer distance, in the convention of PointFlow (Yang et al. 2019) and PVD (Zhou et al. 2021).

For clouds ``X = {x_i}_{i<N}`` and ``Y = {y_j}_{j<M}``::

    CD(X, Y) = 1/N sum_i min_j |x_i - y_j|^2  +  1/M sum_j min_i |x_i - y_j|^2

i.e. *squared* Euclidean nearest-neighbour distances, *averaged* over the points of each cloud, and the two
directions *summed*. The one-directional term ``1/N sum_i min_j |x_i - y_j|^2`` is the directed Chamfer
distance ``X -> Y``. Examples: ``CD(X, X) = 0``; translating a lattice of spacing ``h`` by ``t`` with every
``|t_k| < h/2`` gives ``CD = 2 |t|^2`` (each point's nearest neighbour is its own translate).

Two implementations: :func:`chamfer_distance` compares clouds pair by pair with dense distance matrices in
torch (differentiable, any device); :func:`pairwise_chamfer` fills the all-pairs matrix between two sets with
one k-d tree per target cloud (scipy) that answers the queries of every cloud of the other set at once, in
Morton (Z-curve) order so that successive queries walk the same tree paths (8-20 % faster than unsorted). On one
CPU core it costs about what cache-blocked float32 ``|x|^2 + |y|^2 - 2 x.y`` products in torch cost (2.8 vs 2.7 ms
per pair of 2048-point clouds, ``benchmarks/pointclouds.py speed``), is exact in float64, and spreads over cores
through ``workers``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree


def chamfer_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Chamfer distance between paired clouds ``x`` [B, N, 3] and ``y`` [B, M, 3]; returns [B]."""
    squared = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").square()
    return squared.min(dim=2).values.mean(dim=1) + squared.min(dim=1).values.mean(dim=1)


def morton_order(points: np.ndarray, bits: int = 10) -> np.ndarray:
    """Indices sorting ``points`` [P, 3] along the Z-order curve of a ``2^bits`` grid over their bounding box:
    the code interleaves the bits of the three grid coordinates (x in bit 0, y in bit 1, z in bit 2, ...)."""
    low, extent = points.min(axis=0), np.ptp(points, axis=0).max()
    grid = ((points - low) * ((2**bits - 1) / extent if extent > 0 else 0.0)).astype(np.int64)
    code = np.zeros(len(points), dtype=np.int64)
    for bit in range(bits):
        for axis in range(3):
            code |= ((grid[:, axis] >> bit) & 1) << (3 * bit + axis)
    return np.argsort(code, kind="stable")


def directed_chamfer(queries: np.ndarray, targets: np.ndarray, workers: int = -1) -> np.ndarray:
    """``D[a, b] = 1/N sum_i min_j |q_{a,i} - t_{b,j}|^2`` for query clouds [A, N, 3], target clouds [B, M, 3].

    One k-d tree per target cloud answers the nearest-neighbour queries of all query clouds at once, taken in
    Morton order (:func:`morton_order`); ``workers`` is passed to :meth:`scipy.spatial.cKDTree.query` (-1: all
    cores).
    """
    queries = np.asarray(queries, dtype=np.float64)
    n_clouds, n_points = queries.shape[:2]
    flat = queries.reshape(-1, 3)
    order = morton_order(flat)
    cloud_of_query = order // n_points
    sorted_queries = flat[order]
    result = np.empty((n_clouds, len(targets)))
    for b, target in enumerate(np.asarray(targets, dtype=np.float64)):
        tree = cKDTree(target, leafsize=32, balanced_tree=False, compact_nodes=False)  # fastest build + query
        distance, _ = tree.query(sorted_queries, k=1, workers=workers)
        result[:, b] = np.bincount(cloud_of_query, np.square(distance), minlength=n_clouds) / n_points
    return result


def pairwise_chamfer(x: np.ndarray, y: np.ndarray, workers: int = -1) -> np.ndarray:
    """All-pairs Chamfer distance ``D[s, r] = CD(x_s, y_r)`` between sets [S, N, 3] and [R, M, 3]. When ``y``
    is ``x`` (the same object) one directed pass serves both directions: ``D = d + d^T``."""
    if y is x:
        directed = directed_chamfer(x, x, workers)
        return directed + directed.T
    return directed_chamfer(x, y, workers) + directed_chamfer(y, x, workers).T
