"""A graph's balanced bisection with the fewest cut edges, computed from the graph alone (no generator labels).

For ``n`` nodes, a balanced bisection splits them into parts of ``floor(n/2)`` and ``ceil(n/2)``; its cut is the
number of edges with one end in each part. Finding the smallest such cut is NP-hard in general; the
Kernighan-Lin heuristic (networkx ``kernighan_lin_bisection``: swap pairs of nodes between the parts while the
cut shrinks) started from ``restarts`` seeded random bisections, keeping the smallest cut found, is exact on the
small clustered graphs this is used for (e.g. two cliques joined by one edge: the cut is that edge).
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch


def min_bisection(graph: nx.Graph, restarts: int = 8) -> tuple[set, int]:
    """The part containing the first listed node and the cut size of the best of ``restarts`` Kernighan-Lin runs
    (seeds ``0 .. restarts - 1``; the first smallest cut wins, so the result is deterministic)."""
    nodes = list(graph.nodes)
    if len(nodes) < 2:
        return set(nodes), 0
    best: tuple[set, int] | None = None
    for seed in range(restarts):
        left, right = nx.algorithms.community.kernighan_lin_bisection(graph, seed=seed, weight=None)
        size = nx.cut_size(graph, left, right)
        if best is None or size < best[1]:
            best = (set(left) if nodes[0] in left else set(right), size)
    return best


def bisection_sides(graph: nx.Graph, restarts: int = 8) -> torch.Tensor:
    """Long ``[n]``: for nodes in ``graph.nodes`` order, 0 on the side of the first node, 1 on the other side of
    :func:`min_bisection`."""
    part, _ = min_bisection(graph, restarts)
    return torch.tensor([0 if v in part else 1 for v in graph.nodes], dtype=torch.long)


def bisection_profile(graphs: list[nx.Graph], restarts: int = 8) -> dict[str, float]:
    """How two-community graphs split (:func:`min_bisection` per graph): the mean cut size, the fraction with a cut
    of 3 or more edges, and the mean edge density inside the two parts (for Community-small's generator: cut
    0.05 n with one forced bridge, about 1.2 edges; inside density 0.7)."""
    if not graphs:
        raise ValueError("bisection_profile needs at least one graph")
    cuts, inside = [], []
    for graph in graphs:
        part, cut = min_bisection(graph, restarts)
        n, k = graph.number_of_nodes(), len(part)
        pairs = k * (k - 1) / 2 + (n - k) * (n - k - 1) / 2
        cuts.append(cut)
        inside.append((graph.number_of_edges() - cut) / pairs if pairs else 0.0)
    cuts_ = np.asarray(cuts, dtype=float)
    return {"bisection_cut": float(cuts_.mean()), "bisection_cut_3_or_more": float((cuts_ >= 3).mean()),
            "bisection_inside_density": float(np.mean(inside))}
