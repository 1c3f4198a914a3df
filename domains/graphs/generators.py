"""The synthetic graph benchmarks, generated as the field defines them, with explicit seeds.

Every generator returns a list of ``networkx.Graph`` with nodes ``0..n-1`` and is a pure function of its
arguments (a ``numpy.random.default_rng(seed)`` drives all randomness), so the same seed gives the same graphs.
Our graphs are drawn from the same distributions as the published files, not byte-identical to them (the
published ones came from unrecorded global random states).

* **Community-small** (EDP-GNN, Niu et al. 2020, used by GDSS, Jo et al. 2022): 100 graphs; for each, draw
  ``n`` uniformly in {12..20}; two communities of ``n // 2`` nodes, each an Erdos-Renyi G(n//2, 0.7) graph;
  every cross pair is joined with probability ``2 p_inter / n_c`` (``p_inter = 0.05``, ``n_c`` the community
  size), so ``0.05 n`` bridges are expected; if none was drawn one bridge joins the first nodes. (EDP-GNN seeds
  every community with ``seed=i``, which makes both communities of a graph identical; we draw them
  independently, which is what the paper describes.)
* **Grid** (GraphRNN, You et al. 2018): the 100 2-D grid graphs ``grid_2d_graph(r, c)`` for r, c in {10..19}.
* **Planar** (SPECTRE, Martinkus et al. 2022): 200 graphs; 64 points uniform in the unit square, edges of their
  Delaunay triangulation.
* **SBM** (SPECTRE): 200 connected graphs; number of communities uniform in {2..5}, community sizes uniform in
  {20..40}, intra-community edge probability 0.3, inter-community 0.005; disconnected draws are rejected.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np
from scipy.spatial import Delaunay


def community_small(num_graphs: int = 100, min_nodes: int = 12, max_nodes: int = 20, p_intra: float = 0.7,
                    p_inter: float = 0.05, seed: int = 0, node_counts: Sequence[int] | None = None
                    ) -> list[nx.Graph]:
    """Two-community graphs of 12-20 nodes (EDP-GNN / GDSS Community-small). With ``node_counts`` (one even count
    per graph; ``num_graphs``, ``min_nodes`` and ``max_nodes`` are then unused) graph ``i`` has two communities of
    ``node_counts[i] / 2`` nodes instead of a uniform draw."""
    if node_counts is not None and any(int(count) % 2 for count in node_counts):
        raise ValueError(f"community_small needs even node counts (two equal communities), got {list(node_counts)}")
    rng = np.random.default_rng(seed)
    graphs = []
    for i in range(num_graphs if node_counts is None else len(node_counts)):
        count = rng.integers(min_nodes, max_nodes, endpoint=True) if node_counts is None else node_counts[i]
        size = int(count) // 2
        adj = np.zeros((2 * size, 2 * size), dtype=bool)
        for start in (0, size):
            block = np.triu(rng.random((size, size)) < p_intra, k=1)
            adj[start:start + size, start:start + size] = block
        bridges = rng.random((size, size)) < 2 * p_inter / size
        if not bridges.any():
            bridges[0, 0] = True
        adj[:size, size:] = bridges
        graphs.append(graph_from_upper(adj))
    return graphs


def grid(min_side: int = 10, max_side: int = 19) -> list[nx.Graph]:
    """All 2-D grids with both sides in ``[min_side, max_side]`` (GraphRNN Grid: 100 graphs, 100-361 nodes)."""
    sides = range(min_side, max_side + 1)
    return [nx.convert_node_labels_to_integers(nx.grid_2d_graph(r, c)) for r in sides for c in sides]


def planar(num_graphs: int = 200, num_nodes: int = 64, seed: int = 0) -> list[nx.Graph]:
    """Delaunay triangulations of uniform random points in the unit square (SPECTRE Planar)."""
    rng = np.random.default_rng(seed)
    graphs = []
    for _ in range(num_graphs):
        triangles = Delaunay(rng.random((num_nodes, 2))).simplices
        graph = nx.empty_graph(num_nodes)
        graph.add_edges_from((int(t[i]), int(t[j])) for t in triangles for i, j in ((0, 1), (1, 2), (0, 2)))
        graphs.append(graph)
    return graphs


def sbm(num_graphs: int = 200, min_blocks: int = 2, max_blocks: int = 5, min_block_size: int = 20,
        max_block_size: int = 40, p_intra: float = 0.3, p_inter: float = 0.005, seed: int = 0) -> list[nx.Graph]:
    """Connected stochastic-block-model graphs (SPECTRE SBM); disconnected draws are redrawn."""
    rng = np.random.default_rng(seed)
    graphs = []
    while len(graphs) < num_graphs:
        blocks = int(rng.integers(min_blocks, max_blocks, endpoint=True))
        sizes = rng.integers(min_block_size, max_block_size, size=blocks, endpoint=True)
        graph = sample_sbm(sizes, np.where(np.eye(blocks, dtype=bool), p_intra, p_inter), rng)
        if nx.is_connected(graph):
            graphs.append(graph)
    return graphs


def sample_sbm(sizes: np.ndarray, probs: np.ndarray, rng: np.random.Generator) -> nx.Graph:
    """One SBM draw: nodes ``0..n-1`` grouped in consecutive blocks of ``sizes``; pair (i, j) is an edge with
    probability ``probs[b_i, b_j]``."""
    labels = np.repeat(np.arange(len(sizes)), sizes)
    n = len(labels)
    return graph_from_upper(rng.random((n, n)) < probs[labels[:, None], labels[None, :]])


def erdos_renyi(node_counts: list[int], p: float, seed: int = 0) -> list[nx.Graph]:
    """G(n, p) graphs, one per entry of ``node_counts``."""
    rng = np.random.default_rng(seed)
    graphs = []
    for n in node_counts:
        graphs.append(graph_from_upper(rng.random((n, n)) < p))
    return graphs


def graph_from_upper(pairs: np.ndarray) -> nx.Graph:
    """The graph on ``0..n-1`` whose edges are the ``True`` entries of ``pairs`` [n, n] above the diagonal."""
    graph = nx.empty_graph(pairs.shape[0])
    rows, cols = np.nonzero(np.triu(pairs, k=1))
    graph.add_edges_from(zip(rows.tolist(), cols.tolist(), strict=True))
    return graph
