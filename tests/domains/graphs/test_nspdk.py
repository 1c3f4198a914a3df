import math

import networkx as nx
import numpy as np
import pytest

from domains.graphs import generators
from domains.graphs.molecular import QM9_ATOMS, qm9_smiles, smiles_to_graphs
from domains.graphs.nspdk import nspdk_features, nspdk_kernel, nspdk_mmd2, nspdk_mmd2_from_features


def typed(graph: nx.Graph, node_types: list[int] | None = None, edge_type: int = 1) -> nx.Graph:
    graph = nx.Graph(graph)
    for i, v in enumerate(graph.nodes):
        graph.nodes[v]["type"] = 0 if node_types is None else node_types[i]
    nx.set_edge_attributes(graph, edge_type, "type")
    return graph


def kernel(g: nx.Graph, h: nx.Graph, r: int, d: int) -> float:
    return nspdk_kernel(nspdk_features(g, r, d), nspdk_features(h, r, d))


@pytest.mark.parametrize("graph", [nx.path_graph(5), nx.cycle_graph(7), nx.petersen_graph(),
                                   generators.community_small(num_graphs=1, seed=3)[0],
                                   smiles_to_graphs(["OC(=O)C1=CC=CC=N1"], QM9_ATOMS)[0]])
def test_every_graph_has_unit_self_kernel(graph):
    assert kernel(graph, graph, 4, 4) == pytest.approx(1.0, abs=1e-12)


def test_isomorphic_graphs_have_identical_features():
    graph = smiles_to_graphs(["CC(=O)NC1=CC=C(O)C=C1"], QM9_ATOMS)[0]
    order = np.random.default_rng(0).permutation(graph.number_of_nodes())
    permuted = nx.relabel_nodes(graph, {v: f"n{order[v]}" for v in graph.nodes})
    a, b = nspdk_features(graph), nspdk_features(permuted)
    assert a.keys() == b.keys()
    assert all(a[k] == pytest.approx(b[k]) for k in a)


def test_path_against_triangle_by_hand():
    # Unlabelled P3 and K3. Radius 0: every neighbourhood is one node, so each (0, d) block holds one feature.
    # P3 has pairs at d = 0, 1, 2 (3 blocks), K3 at d = 0, 1 (2 blocks): k = 2 / sqrt(3 * 2).
    p3, k3 = nx.path_graph(3), nx.complete_graph(3)
    assert kernel(p3, k3, 0, 2) == pytest.approx(2 / math.sqrt(6))
    # Radius 1 adds blocks (1, d) whose neighbourhoods (an end: an edge; the centre: P3; K3's nodes: K3) are
    # never shared: still two matching unit blocks, now out of 6 (P3) and 4 (K3) blocks.
    assert kernel(p3, k3, 1, 2) == pytest.approx(2 / math.sqrt(24))


def test_labels_enter_the_features_by_hand():
    # Radius 0, distance 0: counts of node labels. [0, 1, 0] -> (2, 1) / sqrt(5); [0, 0, 0] -> (1, 0).
    a = typed(nx.path_graph(3), [0, 1, 0])
    b = typed(nx.path_graph(3), [0, 0, 0])
    assert kernel(a, b, 0, 0) == pytest.approx(2 / math.sqrt(5))
    # One edge of type 1 vs one of type 2: blocks (0,0), (0,1) agree, (1,0), (1,1) do not: k = 2 / 4.
    single, double = typed(nx.path_graph(2), edge_type=1), typed(nx.path_graph(2), edge_type=2)
    assert kernel(single, double, 1, 1) == pytest.approx(0.5)


def test_distinguishes_graphs_that_colour_refinement_cannot():
    # C6 and two disjoint triangles are both 2-regular on 6 nodes (1-WL gives them equal colours).
    hexagon, triangles = nx.cycle_graph(6), nx.disjoint_union(nx.complete_graph(3), nx.complete_graph(3))
    assert kernel(hexagon, triangles, 4, 4) < 0.5


def test_mmd_of_single_graph_sets_is_two_minus_twice_the_kernel():
    g, h = nx.path_graph(4), nx.star_graph(3)
    assert nspdk_mmd2([g], [h]) == pytest.approx(2 - 2 * kernel(g, h, 4, 4))


def test_mmd_of_a_set_with_itself_is_zero_and_empty_graphs_are_zero_vectors():
    graphs = generators.community_small(num_graphs=6, seed=1)
    assert nspdk_mmd2(graphs, graphs) == pytest.approx(0.0, abs=1e-12)
    assert nspdk_features(nx.Graph()) == {}
    assert nspdk_mmd2([nx.Graph()], [nx.path_graph(3)]) == pytest.approx(1.0)


@pytest.mark.slow
def test_molecules_are_far_from_random_graphs_with_the_same_atoms_and_density():
    smiles = qm9_smiles(5_000)
    order = np.random.default_rng(1).permutation(len(smiles))
    first, second = (smiles_to_graphs([smiles[i] for i in order[k:k + 60]], QM9_ATOMS) for k in (0, 60))
    rng = np.random.default_rng(2)
    shuffled = []  # Erdos-Renyi graphs with the atoms and the density of the second set, all bonds single
    for mol in second:
        atoms = [t for _, t in mol.nodes(data="type")]
        er = generators.erdos_renyi([len(atoms)], p=nx.density(mol), seed=int(rng.integers(2**31)))[0]
        shuffled.append(typed(er, atoms))
    # 60 graphs per set: the V-statistic's diagonal alone adds about 2 (1 - mean k) / 60 = 0.027 to both
    features = [[nspdk_features(g) for g in graphs] for graphs in (first, second, shuffled)]
    near, far = (nspdk_mmd2_from_features(features[0], other) for other in features[1:])
    assert far > 1.5 * near
    cross = [np.mean([nspdk_kernel(a, b) for a in features[0] for b in other]) for other in features[1:]]
    assert cross[0] > cross[1] + 0.01  # a molecule is closer to other molecules than to the random graphs
