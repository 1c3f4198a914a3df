import networkx as nx
import pytest
import torch

from domains.graphs.cuts import bisection_profile, bisection_sides, min_bisection
from domains.graphs.datasets import load_dataset
from domains.graphs.exposure import community_halves, cut_edge_types


def two_cliques(k: int, bridges: list[tuple[int, int]]) -> nx.Graph:
    """Two K_k on nodes 0..k-1 and k..2k-1, joined by ``bridges``."""
    graph = nx.disjoint_union(nx.complete_graph(k), nx.complete_graph(k))
    graph.add_edges_from(bridges)
    return graph


def test_two_cliques_joined_by_one_edge_are_cut_at_that_edge():
    part, size = min_bisection(two_cliques(5, [(2, 7)]))
    assert part == {0, 1, 2, 3, 4} and size == 1


def test_cut_follows_the_cliques_whatever_the_node_order():
    """Relabel the nodes at random: the sides still separate the two cliques (two bridges, cut 2)."""
    graph = two_cliques(4, [(0, 4), (3, 7)])
    order = torch.randperm(8, generator=torch.Generator().manual_seed(1)).tolist()
    shuffled = nx.relabel_nodes(graph, dict(zip(range(8), order, strict=True)))
    sides = bisection_sides(shuffled)
    side_of = dict(zip(shuffled.nodes, sides.tolist(), strict=True))
    clique = {side_of[order[v]] for v in range(4)}
    other = {side_of[order[v]] for v in range(4, 8)}
    assert len(clique) == len(other) == 1 and clique != other
    assert sides[0] == 0  # the first listed node is on side 0
    assert min_bisection(shuffled)[1] == 2


def test_odd_graphs_are_split_as_evenly_as_possible():
    sides = bisection_sides(nx.path_graph(7))
    assert sorted([int((sides == 0).sum()), int((sides == 1).sum())]) == [3, 4]
    assert min_bisection(nx.path_graph(7))[1] == 1  # one edge of a path separates 3 from 4 nodes


def test_tiny_graphs():
    assert bisection_sides(nx.empty_graph(1)).tolist() == [0]
    assert min_bisection(nx.empty_graph(0)) == (set(), 0)


def test_community_small_training_cuts_are_no_larger_than_the_generators_communities():
    """The cut found from the graph alone is never worse than the generator's hidden halves (here: equal)."""
    for graph in load_dataset("community_small").train:
        halves = int((cut_edge_types(graph, community_halves(graph)) > 0).sum())
        assert min_bisection(graph)[1] <= halves


def test_bisection_profile_of_hand_built_graphs():
    one_bridge, three_bridges = two_cliques(4, [(0, 4)]), two_cliques(4, [(0, 4), (1, 5), (2, 6)])
    sparse = nx.disjoint_union(nx.path_graph(3), nx.path_graph(3))  # 2 of 3 pairs inside each part, no bridge
    profile = bisection_profile([one_bridge, three_bridges, sparse])
    assert profile["bisection_cut"] == pytest.approx((1 + 3 + 0) / 3)
    assert profile["bisection_cut_3_or_more"] == pytest.approx(1 / 3)
    assert profile["bisection_inside_density"] == pytest.approx((1 + 1 + 2 / 3) / 3)
