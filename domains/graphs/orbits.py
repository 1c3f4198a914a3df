"""Node orbit counts of graphlets with 2-4 nodes (the 15 orbits ORCA counts; Hocevar & Demsar 2014).

Orbit ``k`` of node ``x`` counts the *induced* connected subgraphs on 2-4 nodes that contain ``x`` in the
automorphism orbit ``k`` (numbering of Przulj 2007 / ORCA):

====  ===================================  ====  ===================================
0     edge (degree)                        8     4-cycle
1     3-path, end                          9     paw (tailed triangle), tail end
2     3-path, centre                       10    paw, degree-2 triangle node
3     triangle                             11    paw, degree-3 node
4     4-path, end                          12    diamond (4-cycle + chord), degree-2 node
5     4-path, inner node                   13    diamond, degree-3 node
6     3-star, leaf                         14    4-clique
7     3-star, centre
====  ===================================  ====  ===================================

Method (ours, not ORCA's code): for each 4-node orbit ``i`` we count *non-induced* copies ``S_i(x)`` with
closed-form matrix expressions in ``A``, degrees ``d``, triangles ``t`` and per-edge triangle counts
``T = A * A^2``; every induced graphlet with ``x`` in orbit ``j`` contains ``M[i, j]`` non-induced copies with ``x``
in orbit ``i``, so ``S = M o`` and the induced counts are ``o = M^{-1} S``. ``M`` is computed by enumerating the
spanning subgraphs of each graphlet (:func:`containment_matrix`), so no coefficient is typed by hand.
"""

from __future__ import annotations

import itertools
from functools import cache

import networkx as nx
import numpy as np

NUM_ORBITS = 15

# Connected 4-node graphlets are told apart by their sorted degree sequence; within one, orbits by degree.
FOUR_NODE_ORBITS: dict[tuple[int, ...], dict[int, int]] = {
    (1, 1, 2, 2): {1: 4, 2: 5},
    (1, 1, 1, 3): {1: 6, 3: 7},
    (2, 2, 2, 2): {2: 8},
    (1, 2, 2, 3): {1: 9, 2: 10, 3: 11},
    (2, 2, 3, 3): {2: 12, 3: 13},
    (3, 3, 3, 3): {3: 14},
}


def four_node_orbit(edges: list[tuple[int, int]], node: int) -> int | None:
    """Orbit (4-14) of ``node`` in the graph on nodes {0, 1, 2, 3} with ``edges``; ``None`` if disconnected."""
    graph = nx.Graph(edges)
    graph.add_nodes_from(range(4))
    if not nx.is_connected(graph):
        return None
    degrees = tuple(sorted(d for _, d in graph.degree()))
    return FOUR_NODE_ORBITS[degrees][graph.degree(node)]


@cache
def containment_matrix() -> np.ndarray:
    """``M[i-4, j-4]``: spanning connected subgraphs with ``x`` in orbit ``i`` inside a graphlet with ``x`` in
    orbit ``j``, found by enumerating every edge subset of one representative graphlet per orbit."""
    pairs = list(itertools.combinations(range(4), 2))
    representative: dict[int, tuple[list[tuple[int, int]], int]] = {}
    for mask in range(1 << len(pairs)):
        edges = [p for b, p in enumerate(pairs) if mask >> b & 1]
        for node in range(4):
            orbit = four_node_orbit(edges, node)
            if orbit is not None:
                representative.setdefault(orbit, (edges, node))
    matrix = np.zeros((11, 11))
    for j, (edges, node) in representative.items():
        for size in range(3, len(edges) + 1):
            for subset in itertools.combinations(edges, size):
                i = four_node_orbit(list(subset), node)
                if i is not None:
                    matrix[i - 4, j - 4] += 1
    return matrix


def non_induced_counts(adj: np.ndarray) -> np.ndarray:
    """[n, 11] non-induced subgraph counts for orbits 4-14 (derivations in the comments)."""
    d = adj.sum(1)
    a2 = adj @ adj
    t = np.einsum("ij,ji->i", a2, adj) / 2  # triangles at x
    tri_edge = adj * a2  # T[x, y]: triangles on edge xy
    common = a2 - np.diag(np.diag(a2))  # common neighbours of x != y
    ad = adj @ d
    counts = np.empty((adj.shape[0], 11))
    counts[:, 0] = adj @ ad - ad - d * d + d - 2 * t  # paths x-a-b-c: sum_a sum_b (d_b - 1 - [b~x])
    counts[:, 1] = (d - 1) * (ad - d) - 2 * t  # paths a-x-b-c: (d_x - 1) sum_b (d_b - 1) minus triangles
    counts[:, 2] = adj @ ((d - 1) * (d - 2) / 2)  # x a leaf of a star centred at neighbour c
    counts[:, 3] = d * (d - 1) * (d - 2) / 6  # x the centre of a 3-star
    counts[:, 4] = (common * (common - 1) / 2).sum(1)  # 4-cycles: opposite node y, 2 of its common nbrs
    counts[:, 5] = adj @ t - 2 * t  # x-c, c in a triangle avoiding x
    counts[:, 6] = tri_edge @ (d - 2)  # triangle x-a-c, tail on c
    counts[:, 7] = t * (d - 2)  # triangle at x, tail on x
    counts[:, 8] = ((adj @ (tri_edge - adj)) * adj).sum(1) / 2  # x joined to edge yz, w another common nbr
    counts[:, 9] = (tri_edge * (tri_edge - 1) / 2).sum(1)  # shared edge xy, two common neighbours
    counts[:, 10] = [_triangles(adj[np.ix_(row > 0, row > 0)]) for row in adj]  # triangles among neighbours
    return counts


def _triangles(adj: np.ndarray) -> float:
    return float(np.trace(adj @ adj @ adj) / 6)


def orbit_counts(graph: nx.Graph) -> np.ndarray:
    """[n, 15] integer orbit counts of every node (rows in sorted node order)."""
    adj = nx.to_numpy_array(graph, nodelist=sorted(graph.nodes()), weight=None)
    n = adj.shape[0]
    if n == 0:
        return np.zeros((0, NUM_ORBITS), dtype=np.int64)
    d = adj.sum(1)
    t = np.einsum("ij,ji->i", adj @ adj, adj) / 2
    small = np.stack([d, adj @ d - d - 2 * t, d * (d - 1) / 2 - t, t], axis=1)
    four = np.linalg.solve(containment_matrix(), non_induced_counts(adj).T).T
    return np.rint(np.concatenate([small, four], axis=1)).astype(np.int64)
