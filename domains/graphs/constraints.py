r"""Structural constraints kept exactly during sampling: the edge projector of ConStruct (Madeira et al. 2024).

A graph property that survives edge deletion (planarity, being a forest) is kept at every step of the reverse
process. After every step, :class:`EdgeProjector` compares the proposed graph with the graph it returned last
(the empty graph before the first step): edges the step removed stay removed, edges both graphs hold stay, and
the edges the step added are tried in a random order, each kept only if the graph still has the property (all at
once when the whole proposal has it). Since the unchecked edges form a subgraph of the last output, every
intermediate graph, and so every sample, has the property whatever the model proposes; edges refused at one
step may be proposed again later.

Why the edge field should absorb into "no edge" (``prior: marginal, marginal: [1.0, 0.0, ...]``, checked by
:func:`check_absorbing_edges`): then the forward process only deletes edges, :math:`x_1` is the empty graph and
a projected state (a subgraph of a noisy graph) is itself a state the forward process can produce, so the model
is only ever asked about inputs like those it was trained on. Under a dense prior the projection would still
hold, but the model would meet sparsified noisy graphs it never saw. Unlike ConStruct's reference code we allow
a step to remove edges (RePaint's re-noising and the final most-likely-class estimate do) and keep no table of
edges blocked for good, which would be unsound once edges can leave.

The projector keeps the property, not the rest of the distribution: validity statistics that need more than the
property (Planar's "connected and planar") still come from the model. The random orders come from a private
generator seeded from the sampling generator's seed, so seeded runs repeat, and a run with the projector draws
the same sampling noise as one without it.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np
import torch
from torch import Tensor

from domains.graphs.validity import is_planar
from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError, choose
from sciddm.fields import Context

Pair = tuple[int, int]


# Properties closed under edge deletion: the only kind the projector can keep exactly.
CONSTRAINTS: dict[str, Callable[[nx.Graph], bool]] = {"planar": is_planar, "forest": nx.is_forest}


def check_absorbing_edges(field: CategoricalField, name: str = "edges") -> None:
    """Refuse an edge field whose prior is not all on class 0 ("no edge"; see the module docstring for why a
    constrained sampler wants it)."""
    prior = field.path.pi
    if prior.shape[0] != field.num_classes or float(prior[0]) != 1.0:
        raise ConfigError(f"a structural constraint needs field {name!r} to absorb into 'no edge' (prior: marginal, "
                          f"marginal: [1.0, 0.0, ...]); its prior is {[round(float(p), 4) for p in prior]}")


def add_edges_keeping(graph: nx.Graph, candidates: list[Pair], accepts: Callable[[nx.Graph], bool]) -> list[Pair]:
    """Add ``candidates`` to ``graph`` in order, each only if ``accepts`` still holds (all at once when the whole
    set fits); return the refused pairs. Pairs already in ``graph`` are skipped. ``graph`` is changed in place."""
    candidates = [(i, j) for i, j in candidates if not graph.has_edge(i, j)]
    if not candidates:
        return []
    graph.add_edges_from(candidates)
    if accepts(graph):
        return []
    graph.remove_edges_from(candidates)
    refused = []
    for i, j in candidates:
        graph.add_edge(i, j)
        if not accepts(graph):
            graph.remove_edge(i, j)
            refused.append((i, j))
    return refused


class EdgeProjector:
    """Step hook keeping every sampled graph inside ``constraint`` (a name of :data:`CONSTRAINTS`).

    It remembers the graphs it returned last, so a new sampling run takes a new projector
    (``GraphDataModule.sampling_steering`` makes one per call). ``field`` holds edge classes ``[B, N, N]``
    (0 = no edge), ``mask_key`` the node mask (real nodes first).
    """

    def __init__(self, constraint: str, field: str = "edges", mask_key: str = "node_mask"):
        self.accepts = choose(constraint, CONSTRAINTS, "graph constraint")
        self.field = field
        self.mask_key = mask_key
        self.previous: Tensor | None = None  # bool [B, N, N] adjacency of the last projected graphs
        self.orders: torch.Generator | None = None

    def __call__(self, state: dict[str, Tensor], s: float | None, context: Context,
                 generator: torch.Generator | None = None) -> dict[str, Tensor]:
        edges = state[self.field]
        if self.orders is None:
            self.orders = torch.Generator().manual_seed(
                generator.initial_seed() if generator is not None else torch.initial_seed())
        present = edges > 0
        previous = torch.zeros_like(present) if self.previous is None else self.previous
        added = torch.triu(present & ~previous, diagonal=1).cpu()
        kept = torch.triu(present & previous, diagonal=1).cpu()
        nodes = context[self.mask_key].sum(dim=1).tolist()
        refused: list[tuple[int, int, int]] = []
        for b in torch.nonzero(added.flatten(1).any(dim=1)).flatten().tolist():
            graph = nx.empty_graph(int(nodes[b]))
            graph.add_edges_from(torch.nonzero(kept[b]).tolist())
            pairs = torch.nonzero(added[b])
            order = torch.randperm(len(pairs), generator=self.orders)
            candidates = [(i, j) for i, j in pairs[order].tolist()]
            refused += [(b, i, j) for i, j in add_edges_keeping(graph, candidates, self.accepts)]
        projected = edges.clone()
        if refused:
            b, i, j = torch.tensor(refused, device=edges.device).T
            projected[b, i, j] = projected[b, j, i] = 0
        self.previous = projected > 0
        return {**state, self.field: projected}


def project_graphs(graphs: list[nx.Graph], constraint: str, seed: int = 0) -> list[nx.Graph]:
    """Each graph's edges added in a random order (seeded) to its empty graph, kept only while ``constraint``
    holds: an edge-maximal subgraph with the property, as one projector step from the empty graph makes it.
    Node and edge attributes are kept. Used to give baselines the same constraint as a constrained model."""
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
