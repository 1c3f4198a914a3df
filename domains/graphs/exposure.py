"""How often training shows the denoiser a graph whose cut the corruption has emptied (e.g. Community-small's
two communities with no bridge left), computed in closed form from the categorical path.

The path corrupts every pair independently, ``q(x_t | x_0) = a(t) onehot(x_0) + (1 - a(t)) pi``. For a cut of a
graph into ``S`` and its complement with ``m`` pairs across it, ``b`` of them edges of ``x_0``, and ``pi_0`` the
prior probability of "no edge",

    P(no edge across the cut in x_t) = prod over cut pairs of q(x_t = 0 | x_0)
                                     = ((1 - a) pi_0)^b (a + (1 - a) pi_0)^(m - b).

Averaged over the training graphs and the training times, this is the fraction of training examples in which
the network sees the cut empty and is taught to restore an edge across it: the state an ancestral sampler must
repair whenever its draws have removed every cross edge.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import networkx as nx
import torch

from sciddm.paths.categorical import CategoricalPath


def cut_edge_types(graph: nx.Graph, part: Iterable[int]) -> torch.Tensor:
    """Edge types (0 = no edge) of the ``|S| (n - |S|)`` pairs across the cut ``S = part`` of ``graph``."""
    inside = set(part)
    outside = [v for v in graph.nodes if v not in inside]
    return torch.tensor([graph.edges[u, v].get("type", 1) if graph.has_edge(u, v) else 0
                         for u in sorted(inside) for v in outside], dtype=torch.long)


def unlinked_probability(cut_types: torch.Tensor, path: CategoricalPath, t: float) -> float:
    """P(every pair across the cut is "no edge" in ``x_t``) for the cut's clean edge types ``cut_types``."""
    return float(path.marginal(cut_types, t)[..., 0].prod())


def community_halves(graph: nx.Graph) -> range:
    """The first community of a Community-small graph: the generator's nodes ``0 .. n/2 - 1``."""
    return range(graph.number_of_nodes() // 2)


def mean_unlinked_probability(graphs: Sequence[nx.Graph], path: CategoricalPath, times: Sequence[float]) -> float:
    """Mean of :func:`unlinked_probability` over ``graphs`` (cut into their two halves) and ``times``."""
    cuts = [cut_edge_types(g, community_halves(g)) for g in graphs]
    return sum(unlinked_probability(c, path, t) for c in cuts for t in times) / (len(cuts) * len(times))
