import networkx as nx
import torch

from domains.graphs import datasets


def _keys(graphs):
    return [tuple(sorted(g.edges())) + (len(g),) for g in graphs]


def test_gdss_split_sizes_and_disjointness():
    for name in ("community_small", "grid"):
        s = datasets.load_dataset(name, seed=0)
        assert (len(s.train), len(s.test)) == (80, 20)
        assert _keys(s.val) == _keys(s.test)  # GDSS has no separate validation set
        assert not set(_keys(s.train)) & set(_keys(s.test))


def test_spectre_split_follows_randperm_1234():
    graphs = [nx.path_graph(i + 1) for i in range(200)]  # graph i has i + 1 nodes
    s = datasets.spectre_split(graphs)
    order = torch.randperm(200, generator=torch.Generator().manual_seed(1234)).tolist()
    assert (len(s.train), len(s.val), len(s.test)) == (128, 32, 40)
    assert [len(g) - 1 for g in s.train] == order[:128]
    assert [len(g) - 1 for g in s.test] == order[160:]


def test_atlas_has_all_994_connected_graphs_with_3_to_7_nodes():
    # connected graphs on 3..7 nodes: 2 + 6 + 21 + 112 + 853 (OEIS A001349)
    assert len(datasets.atlas_graphs()) == 994
    s = datasets.load_dataset("atlas")
    assert len(s.train) + len(s.val) + len(s.test) == 994


def test_named_graphs_are_the_known_real_networks():
    g = datasets.named_graphs()
    assert (len(g["karate_club"]), g["karate_club"].number_of_edges()) == (34, 78)
    assert len(g["florentine_families"]) == 15


def test_qm9_molecules_become_typed_graphs():
    s = datasets.load_dataset("qm9", limit=200)
    assert s.atoms == ("C", "N", "O", "F")
    graphs = s.train + s.val + s.test
    assert len(graphs) == 200 and max(len(g) for g in graphs) <= 9
    # a uniform subset of the whole file (ordered by size: its first 200 rows average 4.7 heavy atoms)
    assert sum(len(g) for g in graphs) / 200 > 8.0
    assert {t for g in graphs for _, _, t in g.edges(data="type")} == {1, 2, 3}


def test_load_dataset_is_deterministic():
    a, b = datasets.load_dataset("sbm", seed=5), datasets.load_dataset("sbm", seed=5)
    assert _keys(a.test) == _keys(b.test)
