import math

import networkx as nx
import pytest
import torch

from domains.graphs.exposure import (
    community_halves,
    cut_edge_types,
    mean_unlinked_probability,
    unlinked_probability,
)
from domains.graphs.generators import community_small
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
