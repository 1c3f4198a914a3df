"""Per-graph validity and set-level uniqueness / novelty / V.U.N. (valid, unique and novel).

* Planar validity (SPECTRE / DiGress): the graph is connected and planar (``nx.check_planarity``).
* SBM validity (SPECTRE's test, Martinkus et al. 2022): fit a block model (:mod:`domains.graphs.blockmodel`);
  the graph is invalid unless it has 2-5 blocks of 20-40 nodes; with ``p_rs`` the fitted probabilities, each
  entry of the K x K matrix gets ``W_rs = (p_rs - q_rs)^2 / (p_rs (1 - p_rs) + 1e-6)`` with ``q`` = 0.3 on the
  diagonal and 0.005 off it, and the p-value ``1 - F_chi2(1)(W_rs)``; the graph is valid when the mean
  p-value over all K^2 entries exceeds 0.9. (As in SPECTRE, ``W`` is not divided by the number of pairs, so
  this is a lenient closeness score rather than a calibrated test; we keep it for comparability.)
* Uniqueness: the fraction of generated graphs not isomorphic to an earlier generated graph.
* Novelty: among the unique graphs, the fraction not isomorphic to any training graph (relative to all
  generated graphs in :func:`vun`, following DiGress's ``eval_fraction_unique_non_isomorphic_valid``).
* V.U.N.: the fraction of generated graphs that are valid, unique and novel.
* Why graphs are disconnected (:func:`component_profile`): the fractions that are connected, split into two
  components of equal or of unequal size, split into three or more, or hold an isolated node.

Isomorphism respects node and edge types; graphs are bucketed by a Weisfeiler-Lehman hash first, which is
equal for isomorphic graphs, so ``nx.is_isomorphic`` runs only within a bucket.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import networkx as nx
import numpy as np
from scipy.stats import chi2

from domains.graphs.blockmodel import fit_blockmodel
from domains.graphs.convert import EDGE_TYPE, NODE_TYPE, adjacency
from sciddm.errors import choose


def is_planar(graph: nx.Graph) -> bool:
    """Planarity, with Euler's bound :math:`|E| \\le 3|V| - 6` (for :math:`|V| \\ge 3`) as a quick refusal."""
    nodes = graph.number_of_nodes()
    if nodes >= 3 and graph.number_of_edges() > 3 * nodes - 6:
        return False
    return nx.check_planarity(graph)[0]


def is_planar_valid(graph: nx.Graph) -> bool:
    """Connected and planar (an empty graph is not valid)."""
    return graph.number_of_nodes() > 0 and nx.is_connected(graph) and is_planar(graph)


def sbm_p_value(graph: nx.Graph, p_intra: float = 0.3, p_inter: float = 0.005, min_blocks: int = 2,
                max_blocks: int = 5, min_size: int = 20, max_size: int = 40) -> float:
    """SPECTRE's mean p-value for ``graph`` being an SBM with the given parameters (0 if the block count or a
    block size is out of range)."""
    if graph.number_of_nodes() < 2:
        return 0.0
    fit = fit_blockmodel(adjacency(graph), max_blocks=max_blocks + 1)
    if not min_blocks <= fit.num_blocks <= max_blocks or fit.sizes.min() < min_size or fit.sizes.max() > max_size:
        return 0.0
    estimate = fit.probabilities()
    target = np.where(np.eye(fit.num_blocks, dtype=bool), p_intra, p_inter)
    wald = (estimate - target) ** 2 / (estimate * (1 - estimate) + 1e-6)
    return float((1 - chi2.cdf(np.abs(wald), 1)).mean())


def is_sbm_valid(graph: nx.Graph) -> bool:
    """SPECTRE's SBM validity: mean p-value above 0.9 (see the module docstring)."""
    return sbm_p_value(graph) > 0.9


VALIDITY: dict[str, Callable[[nx.Graph], bool]] = {
    "planar": is_planar_valid,
    "sbm": is_sbm_valid,
    "connected": lambda g: g.number_of_nodes() > 0 and nx.is_connected(g),
    "tree": lambda g: g.number_of_nodes() > 0 and nx.is_tree(g),
}


def validity_function(name: str) -> Callable[[nx.Graph], bool]:
    return choose(name, VALIDITY, "graph validity")


def _hash(graph: nx.Graph) -> str:
    return nx.weisfeiler_lehman_graph_hash(graph, node_attr=NODE_TYPE, edge_attr=EDGE_TYPE, iterations=3)


def _label(graph: nx.Graph) -> nx.Graph:
    """WL hashing needs string labels; copy types into string attributes of the same name."""
    out = nx.Graph()
    out.add_nodes_from((v, {NODE_TYPE: str(a.get(NODE_TYPE, 0))}) for v, a in graph.nodes(data=True))
    out.add_edges_from((u, v, {EDGE_TYPE: str(a.get(EDGE_TYPE, 1))}) for u, v, a in graph.edges(data=True))
    return out


class IsomorphismIndex:
    """A set of graphs up to (typed) isomorphism, with WL-hash buckets for fast lookups."""

    def __init__(self, graphs: list[nx.Graph] = ()):
        self._buckets: dict[str, list[nx.Graph]] = defaultdict(list)
        for graph in graphs:
            self.add(graph)

    def _match(self, graph: nx.Graph) -> tuple[str, bool]:
        labelled = _label(graph)
        key = _hash(labelled)
        same = nx.algorithms.isomorphism.categorical_node_match(NODE_TYPE, None)
        edge_same = nx.algorithms.isomorphism.categorical_edge_match(EDGE_TYPE, None)
        found = any(nx.is_isomorphic(labelled, other, node_match=same, edge_match=edge_same)
                    for other in self._buckets[key])
        return key, found

    def __contains__(self, graph: nx.Graph) -> bool:
        return self._match(graph)[1]

    def add(self, graph: nx.Graph) -> bool:
        """Add ``graph``; return ``False`` if an isomorphic graph was already present."""
        key, found = self._match(graph)
        if not found:
            self._buckets[key].append(_label(graph))
        return not found


def vun(generated: list[nx.Graph], train: list[nx.Graph] | None = None,
        valid: Callable[[nx.Graph], bool] | None = None) -> dict[str, float]:
    """Fractions (over all generated graphs) that are unique, unique & novel, valid, and valid & unique & novel.

    Without ``train`` novelty is not computed; without ``valid`` validity is not computed.
    """
    seen = IsomorphismIndex()
    known = IsomorphismIndex(train) if train is not None else None
    unique = novel = is_valid = counted = 0
    for graph in generated:
        first = seen.add(graph)
        new = first and (known is None or graph not in known)
        ok = valid is not None and valid(graph)
        unique += first
        novel += new
        is_valid += ok
        counted += new and ok
    total = max(len(generated), 1)
    out = {"uniqueness": unique / total}
    if known is not None:
        out["novelty"] = novel / total
    if valid is not None:
        out["validity"] = is_valid / total
        if known is not None:
            out["vun"] = counted / total
    return out


def component_profile(graphs: list[nx.Graph]) -> dict[str, float]:
    """Fractions of ``graphs`` that are connected, in two components of equal size, in two of unequal size, in
    three or more components, and that hold at least one isolated node (the last overlaps the others)."""
    sizes = [sorted(len(c) for c in nx.connected_components(g)) for g in graphs]
    total = max(len(graphs), 1)
    return {"connected": sum(len(s) == 1 for s in sizes) / total,
            "two_equal_components": sum(len(s) == 2 and s[0] == s[1] for s in sizes) / total,
            "two_unequal_components": sum(len(s) == 2 and s[0] != s[1] for s in sizes) / total,
            "three_or_more_components": sum(len(s) >= 3 for s in sizes) / total,
            "isolated_node": sum(any(d == 0 for _, d in g.degree()) for g in graphs) / total}
