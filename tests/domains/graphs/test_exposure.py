import math

import networkx as nx
import pytest
import torch

from domains.graphs.exposure import (
    community_halves,
    cut_edge_types,
    mean_unlinked_probability,
    predicted_bridges,
    unlinked_probability,
)
from domains.graphs.generators import community_small
from sciddm.categorical_fields import CategoricalField
from sciddm.paths.categorical import CategoricalPath, Cosine

PATH = CategoricalPath(Cosine(), 2, prior="marginal", marginal=[0.6, 0.4])


def two_triangles_one_bridge() -> nx.Graph:
    graph = nx.disjoint_union(nx.complete_graph(3), nx.complete_graph(3))
    graph.add_edge(0, 3)
    return graph


def test_cut_pairs_of_two_triangles_with_one_bridge():
    cut = cut_edge_types(two_triangles_one_bridge(), community_halves(two_triangles_one_bridge()))
    assert cut.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0]  # 3 x 3 cross pairs, only (0, 3) an edge


def test_closed_form_by_hand():
    """One bridge and 8 empty cross pairs: ((1 - a) pi_0) (a + (1 - a) pi_0)^8, a = cos(pi t / 2)."""
    cut = cut_edge_types(two_triangles_one_bridge(), range(3))
    a = math.cos(math.pi * 0.3 / 2)
    expected = ((1 - a) * 0.6) * (a + (1 - a) * 0.6) ** 8
    assert unlinked_probability(cut, PATH, 0.3) == pytest.approx(expected, rel=1e-12)
    assert unlinked_probability(cut, PATH, 0.0) == 0.0  # the clean graph keeps its bridge
    assert unlinked_probability(cut, PATH, 1.0) == pytest.approx(0.6**9)  # all pairs drawn from the prior


def test_closed_form_matches_draws_of_the_core_path():
    cut = cut_edge_types(two_triangles_one_bridge(), range(3))
    draws = PATH.sample(cut.expand(200_000, -1), 0.5, generator=torch.Generator().manual_seed(0))
    empirical = float((draws == 0).all(-1).double().mean())
    exact = unlinked_probability(cut, PATH, 0.5)
    assert empirical == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / 200_000))


def test_more_bridges_are_emptied_less_often():
    """Community-small graphs with more bridges are less often cut by the corruption (each bridge must go)."""
    graphs = community_small(num_graphs=40, seed=3)
    bridges = [int(cut_edge_types(g, community_halves(g)).sum()) for g in graphs]
    one = [g for g, b in zip(graphs, bridges, strict=True) if b == 1]
    several = [g for g, b in zip(graphs, bridges, strict=True) if b >= 2]
    assert one and several
    times = [0.1, 0.2, 0.3]
    assert mean_unlinked_probability(several, PATH, times) < mean_unlinked_probability(one, PATH, times)


class ConstantEdgeBelief(torch.nn.Module):
    """Predicts p(edge) = ``p`` for every pair, whatever the input."""

    def __init__(self, p: float):
        super().__init__()
        self.logit = math.log(p / (1 - p))

    def forward(self, x_t, t, context):
        edges = torch.zeros(*x_t["edges"].shape[:-1], 2)
        edges[..., 1] = self.logit
        return {"nodes": torch.zeros_like(x_t["nodes"]), "edges": edges}


class EchoInput(torch.nn.Module):
    """Predicts the noisy graph it is given, with certainty."""

    def forward(self, x_t, t, context):
        return {"nodes": torch.zeros_like(x_t["nodes"]), "edges": 40.0 * x_t["edges"]}


def two_cliques_fields() -> tuple[list[nx.Graph], dict]:
    graphs = []
    for k in (4, 3):  # 16 and 9 cross pairs, one bridge each
        graph = nx.disjoint_union(nx.complete_graph(k), nx.complete_graph(k))
        graph.add_edge(0, k)
        graphs.append(graph)
    fields = {"nodes": CategoricalField(1, prior="marginal", marginal=[1.0], schedule=Cosine(), mask_key="node_mask"),
              "edges": CategoricalField(2, prior="marginal", marginal=[0.6, 0.4], schedule=Cosine(), symmetric=True,
                                        mask_key="node_mask")}
    return graphs, fields


def test_predicted_bridges_sums_the_belief_over_each_cross_pair_once():
    graphs, fields = two_cliques_fields()
    out = predicted_bridges(ConstantEdgeBelief(0.05), fields, graphs, times=[0.3, 0.7])
    assert out["clean"] == 1.0
    assert out["t=0.3"] == out["t=0.7"] == pytest.approx((16 * 0.05 + 9 * 0.05) / 2)


def test_predicted_bridges_sees_the_cut_emptied():
    """A network that repeats its input predicts no bridge: every cross pair of x_t was emptied (at t = 0.9 the
    path alone would leave about 40% of them edges)."""
    graphs, fields = two_cliques_fields()
    assert predicted_bridges(EchoInput(), fields, graphs, times=[0.9])["t=0.9"] == pytest.approx(0.0, abs=1e-12)
