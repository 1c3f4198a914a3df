import networkx as nx
import numpy as np

from domains.graphs import generators
from domains.graphs.blockmodel import fit_blockmodel
from domains.graphs.validity import (
    IsomorphismIndex,
    component_profile,
    is_planar_valid,
    is_sbm_valid,
    sbm_p_value,
    vun,
)


def test_planarity_on_known_graphs():
    assert not is_planar_valid(nx.complete_graph(5))  # Kuratowski
    assert not is_planar_valid(nx.complete_bipartite_graph(3, 3))
    assert is_planar_valid(nx.grid_2d_graph(5, 5)) and is_planar_valid(nx.complete_graph(4))
    assert not is_planar_valid(nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3)))  # not connected
    assert not is_planar_valid(nx.empty_graph(0))


def test_blockmodel_recovers_planted_blocks():
    rng = np.random.default_rng(1)
    for sizes in ([25, 35], [20, 30, 40], [22, 24, 31, 38, 40]):
        truth = np.repeat(np.arange(len(sizes)), sizes)
        graph = generators.sample_sbm(np.array(sizes), np.where(np.eye(len(sizes)) > 0, 0.3, 0.005), rng)
        fit = fit_blockmodel(nx.to_numpy_array(graph))
        pairs = set(zip(truth.tolist(), fit.labels.tolist(), strict=True))
        assert fit.num_blocks == len(sizes) and len(pairs) == len(sizes)


def test_sbm_validity_separates_sbm_from_erdos_renyi():
    sbm = generators.sbm(num_graphs=12, seed=7)
    assert sum(map(is_sbm_valid, sbm)) >= 9  # SPECTRE's test rejects some true SBM draws too
    er = generators.erdos_renyi([len(g) for g in sbm], p=0.08, seed=7)
    assert not any(map(is_sbm_valid, er))
    assert sbm_p_value(nx.complete_graph(60)) == 0.0  # one block


def test_uniqueness_and_novelty_by_isomorphism():
    c4, c4_relabelled, p4 = nx.cycle_graph(4), nx.relabel_nodes(nx.cycle_graph(4), {0: 2, 2: 0}), nx.path_graph(4)
    out = vun([c4, c4_relabelled, p4], train=[p4], valid=lambda g: nx.is_connected(g))
    assert out == {"uniqueness": 2 / 3, "novelty": 1 / 3, "validity": 1.0, "vun": 1 / 3}


def test_isomorphism_respects_types():
    a, b = nx.path_graph(3), nx.path_graph(3)
    nx.set_node_attributes(a, 0, "type")
    nx.set_node_attributes(b, {0: 1, 1: 0, 2: 0}, "type")
    index = IsomorphismIndex([a])
    assert b not in index and a in index
    b_flipped = nx.relabel_nodes(b, {0: 2, 2: 0})
    index.add(b)
    assert b_flipped in index
    c = nx.path_graph(3)
    nx.set_edge_attributes(c, 2, "type")
    assert c not in index


def test_component_profile_on_hand_built_graphs():
    two_triangles = nx.disjoint_union(nx.complete_graph(3), nx.complete_graph(3))
    triangle_and_edge = nx.disjoint_union(nx.complete_graph(3), nx.path_graph(2))
    with_isolated = nx.disjoint_union(nx.path_graph(4), nx.empty_graph(1))  # two components 4 + 1
    three_parts = nx.disjoint_union(two_triangles, nx.empty_graph(1))
    profile = component_profile([nx.cycle_graph(5), two_triangles, triangle_and_edge, with_isolated, three_parts])
    assert profile == {"connected": 0.2, "two_equal_components": 0.2, "two_unequal_components": 0.4,
                       "three_or_more_components": 0.2, "isolated_node": 0.4}
