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

How a trained network answers in that state (:func:`predicted_bridges`): draw ``x_t ~ q(x_t | x_0)``, empty every
pair across the fewest-edge balanced bisection of ``x_0`` (:mod:`domains.graphs.cuts`), and sum the network's
``p_theta(edge | x_t)`` over the cross pairs: the expected number of bridges it puts back. The exact posterior of
a data set whose graphs all have a bridge puts at least 1 there (the expected count of clean cross edges given an
empty cut); a network that has rarely seen the state may put far less.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import networkx as nx
import torch

from domains.graphs.cut_dropout import cross_side_pairs
from domains.graphs.cuts import bisection_sides
from domains.graphs.data import GraphListDataset, dense_batch
from sciddm.categorical_fields import CategoricalField
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


@torch.no_grad()
def predicted_bridges(network: torch.nn.Module, fields: dict[str, CategoricalField], graphs: Sequence[nx.Graph],
                      times: Sequence[float], seed: int = 0) -> dict[str, float]:
    """For each ``t`` of ``times`` (key ``"t=<t>"``), the mean over ``graphs`` of the expected number of cross edges
    that ``network`` predicts when the cut of a draw ``x_t`` is emptied (module docstring; each ``t`` draws with a
    generator seeded ``seed``), and under ``"clean"`` the clean graphs' mean number of cross edges. ``fields`` are a
    model's ``nodes`` and ``edges`` fields (the plain path draws ``x_t``). The bisections and the batch are built
    once for all times."""
    batch = dense_batch(list(GraphListDataset(graphs, [bisection_sides(graph) for graph in graphs])))
    context = batch.pop("context")
    cross = cross_side_pairs(context.pop("cut_side"))  # without the sides every edge field corrupts plainly
    edges = fields["edges"]
    emptied = cross & edges.real_positions(batch["edges"], context)
    counted = cross & edges.scored_positions(batch["edges"], context)  # each pair once
    out = {}
    for t in times:
        generator = torch.Generator().manual_seed(seed)
        t_batch = torch.full((len(graphs),), t)
        noisy = {name: field.corrupt(batch[name], t_batch, context, generator)[0] for name, field in fields.items()}
        noisy["edges"] = noisy["edges"].masked_fill(emptied, 0)
        inputs = {name: field.network_input(noisy[name], t_batch) for name, field in fields.items()}
        probs = edges.denoised(network(inputs, t_batch, context)["edges"], noisy["edges"], t_batch)
        out[f"t={t:g}"] = float((probs[..., 1:].sum(-1) * counted).sum((1, 2)).mean())
    out["clean"] = float(((batch["edges"] > 0) & counted).sum((1, 2)).double().mean())
    return out
