r"""Neighbourhood subgraph pairwise distance kernel (NSPDK, Costa & De Grave, ICML 2010) and its MMD^2.

Our own implementation of the kernel that GDSS (Jo et al. 2022) and later molecular graph generators report as
"NSPDK MMD" (they call EDeN's ``vectorize(graphs, complexity=4)``).

**Features.** For a graph :math:`G` with node and edge labels (``type`` attributes), a root :math:`v` and a
radius :math:`r`, the neighbourhood subgraph :math:`N_r(v)` is the subgraph induced by the nodes at shortest-path
distance :math:`\le r` from :math:`v`, rooted at :math:`v`. Every pair of roots :math:`\{u, v\}` at distance
:math:`d` and every radius :math:`r` gives the feature

.. math:: f_{r,d}(u, v) = (r, d, \{[N_r(u)], [N_r(v)]\}),

where :math:`[N]` is an isomorphism invariant of the rooted labelled subgraph (below), and the unordered pair
makes the feature independent of the order of the roots. :math:`\phi_{r,d}(G)` counts the features of all
pairs at distance exactly :math:`d` (each unordered pair once, :math:`d = 0` being the roots themselves), for
:math:`0 \le r \le R`, :math:`0 \le d \le D`.

**Normalisation** (as EDeN): each block :math:`\phi_{r,d}` is scaled to unit Euclidean norm, then the
concatenation of the non-empty blocks is scaled to unit norm, so :math:`k(G, G) = 1` and

.. math:: k(G, H) = \langle \hat\phi(G), \hat\phi(H) \rangle
          = \frac{\sum_{r,d} \langle \phi_{r,d}(G), \phi_{r,d}(H) \rangle / (\|\phi_{r,d}(G)\|\,\|\phi_{r,d}(H)\|)}
                 {\sqrt{B_G B_H}},

with :math:`B_G` the number of non-empty blocks of :math:`G`.

**Invariant of a rooted neighbourhood** (the distance-based labelling of Costa & De Grave, Sec. 3): inside
:math:`N = N_r(v)`, each node :math:`w` gets the label
:math:`L(w) = (\ell(w), \mathrm{dist}_N(v, w), \mathrm{sorted}\{(\mathrm{dist}_N(w, x), \ell(x)) : x \in N\})`;
the invariant is the sorted list of node labels together with the sorted list of edge codes
:math:`(\min(L(a), L(b)), \max(L(a), L(b)), \ell(a, b))`. Every sorted list is hashed to 64 bits with a
SplitMix64-based sequence hash (vectorised in numpy, the same in every process). Isomorphic rooted
neighbourhoods get equal invariants; the converse holds for all but pathological (e.g. some strongly regular)
neighbourhoods and 64-bit hash collisions, the same trade-off as the published kernel. EDeN (what GDSS runs)
differs in details, so values are close but not identical to published ones: it summarises a neighbourhood
by the (label, degree) multisets of its distance shells, hashes features into :math:`2^{16}` buckets, and
adds "half" features of one neighbourhood only.

**MMD^2** between sets :math:`X, Y`: the biased V-statistic with the linear kernel on the normalised features,
:math:`\overline{K_{XX}} + \overline{K_{YY}} - 2\,\overline{K_{XY}}` (GDSS's ``compute_nspdk_mmd``); a graph
with no nodes has the zero feature vector. Defaults :math:`R = D = 4` are EDeN's ``complexity=4`` used by GDSS.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix

from domains.graphs.convert import EDGE_TYPE, NODE_TYPE

MAX_RADIUS = 4
MAX_DISTANCE = 4

Features = dict[tuple[int, int, int, int], float]


def _distances(adjacency: np.ndarray) -> np.ndarray:
    """Unweighted shortest-path lengths (``inf`` between components) of a boolean adjacency matrix, by
    breadth-first search from every node at once (one matrix product per distance)."""
    n = len(adjacency)
    step = adjacency.astype(np.float32)
    dist = np.full((n, n), np.inf)
    frontier = np.eye(n, dtype=bool)
    reached = frontier.copy()
    np.fill_diagonal(dist, 0.0)
    k = 0
    while frontier.any():
        k += 1
        frontier = ((frontier.astype(np.float32) @ step) > 0) & ~reached
        dist[frontier] = k
        reached |= frontier
    return dist


def _mix(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, elementwise on uint64 (wrapping arithmetic): a well-spread 64-bit hash."""
    z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _sequence_hash(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of a [m, k] integer array, depending on the order of the entries."""
    positions = np.arange(rows.shape[1], dtype=np.uint64) * np.uint64(0x632BE59BD9B4E019)
    return _mix(_mix(rows.astype(np.uint64) ^ positions).sum(axis=1, dtype=np.uint64))


def neighbourhood_invariant(types: np.ndarray, edge_types: np.ndarray, root: int, ball: np.ndarray) -> int:
    """Isomorphism invariant of the neighbourhood induced by the node indices ``ball`` (which contains
    ``root``), rooted at ``root``; ``types`` are node labels (< 2^16) and ``edge_types`` the [n, n] edge labels
    (0 = none) of the whole graph. See the module docstring; sorted multisets are hashed with
    :func:`_sequence_hash`."""
    sub_edges = edge_types[np.ix_(ball, ball)]
    sub_types = types[ball]
    inside = _distances(sub_edges > 0).astype(np.int64)  # finite: every node of the ball reaches the root
    from_root = inside[int(np.flatnonzero(ball == root)[0])]
    profiles = np.sort((inside << 16) + sub_types[None, :], axis=1)  # sorted (distance, label) per node
    labels = _sequence_hash(np.column_stack([sub_types, from_root, _sequence_hash(profiles).view(np.int64)]))
    rows, cols = np.nonzero(np.triu(sub_edges, k=1))
    ends = np.sort(np.stack([labels[rows], labels[cols]], axis=1), axis=1)
    edges = np.sort(_sequence_hash(np.column_stack([ends.view(np.int64), sub_edges[rows, cols]])))
    summary = np.concatenate([np.sort(labels), np.array([len(ball)], dtype=np.uint64), edges])
    return int(_sequence_hash(summary[None, :])[0])


def _root_invariants(types: np.ndarray, edge_types: np.ndarray, dist_from_root: np.ndarray, root: int,
                     max_radius: int) -> list[int]:
    """Invariants of the neighbourhoods of ``root`` for radii 0..``max_radius`` (a radius that adds no node
    has the same neighbourhood, hence the same invariant, as the one before)."""
    out: list[int] = []
    previous = None
    for r in range(max_radius + 1):
        ball = np.flatnonzero(dist_from_root <= r)
        out.append(out[-1] if previous is not None and len(ball) == len(previous)
                   else neighbourhood_invariant(types, edge_types, root, ball))
        previous = ball
    return out


def nspdk_features(graph: nx.Graph, max_radius: int = MAX_RADIUS, max_distance: int = MAX_DISTANCE) -> Features:
    """Normalised NSPDK feature vector of ``graph`` as a sparse dict ``{(r, d, h_small, h_large): value}``."""
    nodes = list(graph.nodes)
    n = len(nodes)
    if n == 0:
        return {}
    index = {v: i for i, v in enumerate(nodes)}
    types = np.array([int(graph.nodes[v].get(NODE_TYPE, 0)) for v in nodes], dtype=np.int64)
    edge_types = np.zeros((n, n), dtype=np.int64)
    for a, b, t in graph.edges(data=EDGE_TYPE, default=1):
        edge_types[index[a], index[b]] = edge_types[index[b], index[a]] = int(t)
    dist = _distances(edge_types > 0)
    invariants = np.array([_root_invariants(types, edge_types, dist[v], v, max_radius) for v in range(n)],
                          dtype=object)
    blocks: dict[tuple[int, int], Counter] = defaultdict(Counter)
    rows, cols = np.nonzero(np.triu(dist <= max_distance))  # unordered pairs u <= v, including u = v
    for u, v in zip(rows.tolist(), cols.tolist(), strict=True):
        d = int(dist[u, v])
        for r in range(max_radius + 1):
            a, b = invariants[u, r], invariants[v, r]
            blocks[r, d][(min(a, b), max(a, b))] += 1
    features: Features = {}
    for (r, d), counts in blocks.items():
        norm = np.sqrt(sum(c * c for c in counts.values()))
        for (a, b), c in counts.items():
            features[r, d, a, b] = c / norm
    total = np.sqrt(len(blocks))  # every block now has unit norm
    return {key: value / total for key, value in features.items()}


def nspdk_kernel(x: Features, y: Features) -> float:
    """Linear kernel between two normalised feature vectors."""
    if len(y) < len(x):
        x, y = y, x
    return float(sum(value * y.get(key, 0.0) for key, value in x.items()))


def _triplets(rows: list[Features], columns: dict) -> tuple[list[float], list[int], list[int]]:
    """(values, row indices, column indices) of a sparse matrix, features numbered in ``columns`` (shared)."""
    data, row_index, col_index = [], [], []
    for i, features in enumerate(rows):
        for key, value in features.items():
            row_index.append(i)
            col_index.append(columns.setdefault(key, len(columns)))
            data.append(value)
    return data, row_index, col_index


def nspdk_mmd2_from_features(x: list[Features], y: list[Features]) -> float:
    """MMD^2 (biased V-statistic, linear kernel on normalised NSPDK features) between two feature lists."""
    columns: dict = {}
    parts = [_triplets(rows, columns) for rows in (x, y)]
    a, b = (csr_matrix((data, (r, c)), shape=(len(rows), len(columns)))
            for (data, r, c), rows in zip(parts, (x, y), strict=True))
    return float((a @ a.T).mean() + (b @ b.T).mean() - 2 * (a @ b.T).mean())


def nspdk_mmd2(graphs_x: list[nx.Graph], graphs_y: list[nx.Graph], max_radius: int = MAX_RADIUS,
               max_distance: int = MAX_DISTANCE) -> float:
    """NSPDK MMD^2 between two graph sets (see the module docstring)."""
    return nspdk_mmd2_from_features([nspdk_features(g, max_radius, max_distance) for g in graphs_x],
                                    [nspdk_features(g, max_radius, max_distance) for g in graphs_y])
