"""Exact nearest-neighbour search in compiled code (numba): one compact k-d tree per cloud, all cloud pairs at once.

**Tree.** A cloud of ``P`` points becomes an implicit balanced binary tree: node 0 holds all points; a node
holding ``points[start:end]`` with more than ``leaf_size`` points sorts them along the longest side of their
bounding box and gives the first ``(end - start) // 2`` to child ``2 n + 1`` and the rest to ``2 n + 2``. All
leaves sit at the same depth ``L = ceil(log2(P / leaf_size))``, the point array is reordered in place (leaf
order, a spatially coherent order) and every node keeps the *tight* bounding box of its points.

**Query** (exact). For a query ``q`` the best squared distance starts at ``|q - y_g|^2`` for a guess ``g`` (the
previous query's nearest point: the queries are taken in their own tree's leaf order, so neighbours follow each
other and the guess is close). A depth-first walk with an explicit stack visits the nearer child first and skips
every node whose box is not closer than the best so far: the squared distance from ``q`` to a box,
``sum_d max(lo_d - q_d, 0, q_d - hi_d)^2``, is a lower bound for every point inside it, so no skipped point can be
closer. The leaves' points are compared by ``sum_d (q_d - y_d)^2``, as brute force computes it, so the result is
the exact minimum over the cloud (the guess only makes the pruning stronger from the start).

**Pairs.** :func:`directed_sums` fills ``S[a, b] = sum_i min_j |x_{a,i} - y_{b,j}|^2`` for all pairs of clouds
in parallel (numba ``prange`` over the pairs). Each cloud's tree is built once (:func:`build_trees`) and serves
every pair in both roles: its reordered points as queries, its boxes as targets.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numba
import numpy as np
import torch
from numba import njit, prange


class CloudTrees(NamedTuple):
    """k-d trees of ``C`` clouds of ``P`` points: ``points`` [C, P, 3] in leaf order, node boxes ``low`` and
    ``high`` [C, nodes, 3], the common ``depth`` (leaves are the nodes ``2^depth - 1 .. 2^(depth+1) - 2``) and
    ``leaf_starts`` [2^depth + 1] (leaf ``k`` holds ``points[leaf_starts[k]:leaf_starts[k + 1]]``, every cloud)."""

    points: np.ndarray
    low: np.ndarray
    high: np.ndarray
    depth: int
    leaf_starts: np.ndarray


def tree_depth(count: int, leaf_size: int) -> int:
    """Levels below the root so that every leaf of a ``count``-point tree holds at most ``leaf_size`` points."""
    return max(0, math.ceil(math.log2(max(count, 1) / leaf_size)))


@njit(cache=True)
def _node_range(node: int, count: int) -> tuple[int, int]:
    """``[start, end)`` of ``node`` in a tree over ``count`` points (children split a range at its midpoint)."""
    start, end, path = 0, count, node + 1  # the bits of node + 1 below its leading 1 spell the path from the root
    level = 0
    while (path >> (level + 1)) > 0:
        level += 1
    for bit in range(level - 1, -1, -1):
        middle = start + (end - start) // 2
        if (path >> bit) & 1:
            start = middle
        else:
            end = middle
    return start, end


@njit(cache=True)
def _build_one(cloud: np.ndarray, depth: int, low: np.ndarray, high: np.ndarray) -> None:
    """Reorder ``cloud`` [P, 3] in place into leaf order and fill the node boxes ``low``/``high``."""
    count = cloud.shape[0]
    for node in range(2 ** (depth + 1) - 1):
        start, end = _node_range(node, count)
        for d in range(3):
            low[node, d], high[node, d] = np.inf, -np.inf
        for i in range(start, end):
            for d in range(3):
                low[node, d] = min(low[node, d], cloud[i, d])
                high[node, d] = max(high[node, d], cloud[i, d])
        if node < 2**depth - 1 and end - start > 1:  # an inner node: sort along the longest side of its box
            axis = np.argmax(high[node] - low[node])
            order = np.argsort(cloud[start:end, axis], kind="mergesort")
            cloud[start:end] = cloud[start:end][order]


@njit(cache=True)
def _build_all(clouds: np.ndarray, depth: int):
    nodes = 2 ** (depth + 1) - 1
    points = clouds.copy()
    low, high = np.empty((len(clouds), nodes, 3)), np.empty((len(clouds), nodes, 3))
    for c in range(len(clouds)):
        _build_one(points[c], depth, low[c], high[c])
    return points, low, high


def build_trees(clouds: np.ndarray, leaf_size: int = 8) -> CloudTrees:
    """One k-d tree per cloud of ``clouds`` [C, P, 3] (float64), leaves of at most ``leaf_size`` points."""
    clouds = np.ascontiguousarray(clouds, dtype=np.float64)
    depth = tree_depth(clouds.shape[1], leaf_size)
    return CloudTrees(*_build_all(clouds, depth), depth, _leaf_starts(clouds.shape[1], depth))


@njit(cache=True)
def _leaf_starts(count: int, depth: int) -> np.ndarray:
    leaves = 2**depth
    starts = np.empty(leaves + 1, dtype=np.int64)
    for k in range(leaves):
        starts[k] = _node_range(leaves - 1 + k, count)[0]
    starts[leaves] = count
    return starts


@njit(cache=True)
def _box_squared_distance(q: np.ndarray, low: np.ndarray, high: np.ndarray, node: int) -> float:
    total = 0.0
    for d in range(3):
        gap = max(low[node, d] - q[d], q[d] - high[node, d], 0.0)
        total += gap * gap
    return total


@njit(cache=True)
def nearest(q, points, low, high, depth, leaf_starts, guess, stack_nodes, stack_bounds):
    """``(min_j |q - y_j|^2, argmin)`` over a cloud's tree (module doc); ``guess`` seeds the best distance, the
    two stacks are scratch arrays of at least ``depth + 2`` entries."""
    dx, dy, dz = q[0] - points[guess, 0], q[1] - points[guess, 1], q[2] - points[guess, 2]
    best, where = dx * dx + dy * dy + dz * dz, guess
    first_leaf = 2**depth - 1
    stack_nodes[0], stack_bounds[0], top = 0, 0.0, 1
    while top > 0:
        top -= 1
        node = stack_nodes[top]
        if stack_bounds[top] >= best:
            continue
        if node >= first_leaf:
            for j in range(leaf_starts[node - first_leaf], leaf_starts[node - first_leaf + 1]):
                dx, dy, dz = q[0] - points[j, 0], q[1] - points[j, 1], q[2] - points[j, 2]
                squared = dx * dx + dy * dy + dz * dz
                if squared < best:
                    best, where = squared, j
            continue
        left, right = 2 * node + 1, 2 * node + 2
        near, far = _box_squared_distance(q, low, high, left), _box_squared_distance(q, low, high, right)
        if near <= far:
            first, second = left, right
        else:
            first, second, near, far = right, left, far, near
        if far < best:  # pushed first, popped last
            stack_nodes[top], stack_bounds[top], top = second, far, top + 1
        if near < best:
            stack_nodes[top], stack_bounds[top], top = first, near, top + 1
    return best, where


@njit(cache=True)
def _nearest_all(queries, points, low, high, depth, leaf_starts) -> np.ndarray:
    stack_nodes, stack_bounds = np.empty(depth + 2, dtype=np.int64), np.empty(depth + 2)
    found, where = np.empty(queries.shape[0]), 0
    for i in range(queries.shape[0]):
        found[i], where = nearest(queries[i], points, low, high, depth, leaf_starts, where, stack_nodes, stack_bounds)
    return found


def nearest_squared_distances(queries: np.ndarray, targets: CloudTrees, cloud: int = 0) -> np.ndarray:
    """``min_j |q_i - y_j|^2`` [N] for queries [N, 3] over target cloud ``cloud`` of ``targets``."""
    queries = np.ascontiguousarray(queries, dtype=np.float64)
    points, low, high, depth, leaf_starts = targets
    return _nearest_all(queries, points[cloud], low[cloud], high[cloud], depth, leaf_starts)


@njit(cache=True, parallel=True)
def _directed_sums(queries, points, low, high, depth, leaf_starts, skip_diagonal):
    count_a, count_b = queries.shape[0], points.shape[0]
    sums = np.zeros((count_a, count_b))
    for pair in prange(count_a * count_b):
        a, b = pair // count_b, pair % count_b
        if not (skip_diagonal and a == b):
            sums[a, b] = _nearest_all(queries[a], points[b], low[b], high[b], depth, leaf_starts).sum()
    return sums


def directed_sums(queries: np.ndarray, targets: CloudTrees, skip_diagonal: bool = False) -> np.ndarray:
    """``S[a, b] = sum_i min_j |q_{a,i} - t_{b,j}|^2`` for query clouds [A, N, 3] (best in a coherent order, e.g.
    another tree's ``points``) and the trees of the target clouds; ``skip_diagonal`` leaves ``S[a, a] = 0``."""
    queries = np.ascontiguousarray(queries, dtype=np.float64)
    return _directed_sums(queries, *targets, skip_diagonal)


@contextmanager
def numba_threads(workers: int) -> Iterator[None]:
    """Run the enclosed parallel loops on ``workers`` numba threads (below 1 or above the maximum: all of them),
    then restore the previous count, and torch's: with numba's OpenMP threading layer both share one OpenMP
    runtime, so setting numba's count would otherwise change torch's intra-op threads too."""
    previous_torch = torch.get_num_threads()  # first: starting numba's layer may already set OpenMP's count
    previous = numba.get_num_threads()
    maximum = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(maximum if workers < 1 else min(workers, maximum))
    try:
        yield
    finally:
        numba.set_num_threads(previous)
        torch.set_num_threads(previous_torch)
