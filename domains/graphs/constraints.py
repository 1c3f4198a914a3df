r"""Structural constraints kept exactly during sampling: the edge projector of ConStruct (Madeira et al. 2024).

A graph property that survives edge deletion (planarity, being a forest) can be kept at every step of the
reverse process when the forward process only deletes edges: the edge field's prior puts all its mass on
"no edge" (``prior: marginal, marginal: [1.0, 0.0, ...]``), so :math:`x_1` is the empty graph, which has the
property, and each reverse step only adds edges. After every step, :class:`EdgeProjector` compares the proposed
graph with the previous projected one; edges the step removed stay removed, and the edges it added are tried in
a random order, each kept only if the graph still has the property (all at once when the whole proposal
has it). Every intermediate graph, and so every sample, has the property by construction; edges refused at one
step may be proposed again later. The order is drawn from the sampling generator, so seeded runs repeat.

The projector keeps the property, not the rest of the distribution: validity statistics that need more than the
property (Planar's "connected and planar") still come from the model.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np
import torch
from torch import Tensor

from sciddm.errors import ConfigError, choose
from sciddm.fields import Context


def is_planar(graph: nx.Graph) -> bool:
    """Planarity, with Euler's bound :math:`|E| \\le 3|V| - 6` (for :math:`|V| \\ge 3`) as a quick refusal."""
    nodes = graph.number_of_nodes()
    if nodes >= 3 and graph.number_of_edges() > 3 * nodes - 6:
        return False
    return nx.check_planarity(graph)[0]


# Properties closed under edge deletion: the only kind the projector can keep exactly.
CONSTRAINTS: dict[str, Callable[[nx.Graph], bool]] = {"planar": is_planar, "forest": nx.is_forest}


def check_absorbing_edges(field, name: str = "edges") -> None:
    """Refuse an edge field whose prior is not concentrated on class 0 ("no edge"): only then is the empty graph
    the starting point and every reverse step an edge addition, which the projector needs."""
    prior = field.path.pi
    if prior.shape[0] != field.num_classes or float(prior[0]) != 1.0:
        raise ConfigError(f"a structural constraint needs field {name!r} to absorb into 'no edge' (prior: marginal, "
                          f"marginal: [1.0, 0.0, ...]); its prior is {[round(float(p), 4) for p in prior]}")


class EdgeProjector:
    """Step hook keeping every sampled graph inside ``constraint`` (a name of :data:`CONSTRAINTS`).

    One projector serves one sampling run: it remembers the graphs it returned last (the empty graphs before
    the first step). ``field`` holds edge classes ``[B, N, N]`` (0 = no edge), ``mask_key`` the node mask.
    """

    def __init__(self, constraint: str, field: str = "edges", mask_key: str = "node_mask"):
        self.accepts = choose(constraint, CONSTRAINTS, "graph constraint")
        self.constraint = constraint
        self.field = field
        self.mask_key = mask_key
        self.previous: Tensor | None = None  # bool [B, N, N] adjacency of the last projected graphs
        self.refused = 0  # edge proposals refused so far (all steps, all graphs)

    def __call__(self, state: dict[str, Tensor], s: float | None, context: Context,
                 generator: torch.Generator | None = None) -> dict[str, Tensor]:
        edges = state[self.field]
        present = edges > 0
        previous = torch.zeros_like(present) if self.previous is None else self.previous
        added = torch.triu(present & ~previous, diagonal=1)
        refused = torch.zeros_like(present)
        nodes = context[self.mask_key].sum(dim=1).tolist()
        for b in torch.nonzero(added.flatten(1).any(dim=1)).flatten().tolist():
            kept = torch.triu(present[b] & previous[b], diagonal=1)
            graph = nx.empty_graph(int(nodes[b]))
            graph.add_edges_from(torch.nonzero(kept).tolist())
            pairs = torch.nonzero(added[b])
            order = torch.rand(len(pairs), generator=generator, device=edges.device).argsort()
            for i, j in add_edges_keeping(graph, pairs[order.to(pairs.device)].tolist(), self.accepts):
                refused[b, i, j] = refused[b, j, i] = True
        self.refused += int(refused.sum()) // 2
        projected = torch.where(refused, torch.zeros_like(edges), edges)
        self.previous = projected > 0
        return {**state, self.field: projected}


def add_edges_keeping(graph: nx.Graph, candidates: list, accepts: Callable[[nx.Graph], bool]) -> list:
    """Add ``candidates`` (node pairs not yet in ``graph``) to ``graph`` in order, each only if ``accepts`` still
    holds (all at once when the whole set fits); return the refused pairs. ``graph`` is changed in place."""
    graph.add_edges_from(candidates)
    if accepts(graph):
        return []
    graph.remove_edges_from(candidates)
    refused = []
    for i, j in candidates:
        graph.add_edge(i, j)
        if not accepts(graph):
            graph.remove_edge(i, j)
            refused.append([i, j])
    return refused


def project_graphs(graphs: list[nx.Graph], constraint: str, seed: int = 0) -> list[nx.Graph]:
    """Each graph's edges added in a random order (seeded) to its empty graph, kept only while ``constraint``
    holds: an edge-maximal subgraph with the property, as one projector step from the empty graph makes it.
    Used to give baselines the same constraint as a constrained model."""
    accepts = choose(constraint, CONSTRAINTS, "graph constraint")
    rng = np.random.default_rng(seed)
    projected = []
    for graph in graphs:
        edges = list(graph.edges())
        kept = nx.empty_graph(0)
        kept.add_nodes_from(graph.nodes(data=True))
        add_edges_keeping(kept, [edges[k] for k in rng.permutation(len(edges))], accepts)
        for u, v in kept.edges():
            kept.edges[u, v].update(graph.edges[u, v])
        projected.append(kept)
    return projected
