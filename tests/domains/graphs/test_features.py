import networkx as nx
import pytest
from scipy.linalg import expm

from domains.graphs.convert import to_data
from domains.graphs.data import dense_batch
from domains.graphs.features import cycle_features, spectral_features

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
