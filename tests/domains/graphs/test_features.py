import networkx as nx
import pytest
from scipy.linalg import expm

from domains.graphs.convert import to_data
from domains.graphs.data import dense_batch
from domains.graphs.features import cycle_features, random_walk_features, spectral_features

GRAPHS = [nx.gnp_random_graph(9, 0.5, seed=1), nx.disjoint_union(nx.cycle_graph(4), nx.complete_graph(4)),
          nx.petersen_graph()]


def _batch():
    batch = dense_batch([to_data(g) for g in GRAPHS])
    return (batch["edges"] > 0).double(), batch["context"]["node_mask"]


def test_cycle_counts_match_enumeration():
    adj, mask = _batch()
    node, graph = cycle_features(adj, mask)
    for i, g in enumerate(GRAPHS):
        cycles = list(nx.simple_cycles(g, length_bound=4))
        for k, column in ((3, 0), (4, 1)):
            assert graph[i, column] == sum(len(c) == k for c in cycles)
            per_node = [sum(len(c) == k and v in c for c in cycles) for v in g]
            assert node[i, : len(g), column].tolist() == per_node


def test_spectral_features_components_eigenvalues_and_heat_kernel():
    adj, mask = _batch()
    heat, graph = spectral_features(adj, mask, num_eigenvalues=4, times=(0.5, 1.0))
    assert graph[:, -1].tolist() == [1, 2, 1]  # connected components
    # Petersen graph: Laplacian spectrum 0, 2 (x5), 5 (x4)
    assert graph[2, :4].tolist() == pytest.approx([0, 2, 2, 2], abs=1e-9)
    for i, g in enumerate(GRAPHS):
        laplacian = nx.laplacian_matrix(g).toarray().astype(float)
        for j, tau in enumerate((0.5, 1.0)):
            assert heat[i, : len(g), j].numpy() == pytest.approx(expm(-tau * laplacian).diagonal())
    assert (heat[~mask] == 0).all()


def test_random_walk_probabilities_by_hand_and_by_brute_force():
    batch = dense_batch([to_data(nx.path_graph(3)), to_data(GRAPHS[1])], pad_to=9)
    adj, mask = (batch["edges"] > 0).double(), batch["context"]["node_mask"]
    node, pair = random_walk_features(adj, mask, steps=3)
    # path 0-1-2: P = [[0, 1, 0], [1/2, 0, 1/2], [0, 1, 0]]; two steps from 0 return or reach 2 with prob. 1/2
    assert pair[0, :3, :3, 0].tolist() == [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]]
    assert pair[0, 0, :3, 1].tolist() == [0.5, 0, 0.5] and node[0, :3, 1].tolist() == [0.5, 1, 0.5]
    assert pair[0, 3:].abs().sum() == 0 and pair[0, :, 3:].abs().sum() == 0  # padding gets nothing
    # C4 + K4, brute force: P^3_ij = sum over walks i-a-b-j of 1 / (d_i d_a d_b)
    g = GRAPHS[1]
    for i in g:
        for j in g:
            walks = sum(1 / (g.degree(i) * g.degree(a) * g.degree(b)) for a in g[i] for b in g[a] if j in g[b])
            assert pair[1, i, j, 2].item() == pytest.approx(walks)
