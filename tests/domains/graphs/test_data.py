import networkx as nx
import pytest
import torch
from torch_geometric.utils import to_dense_adj

from domains.graphs.convert import batch_to_graphs, to_data
from domains.graphs.data import GraphDataModule, GraphListDataset, dense_batch, marginals, node_count_distribution
from domains.graphs.readers import write_graphs
from sciddm.errors import DataError


def _typed_path() -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from([(0, {"type": 2}), (1, {"type": 0}), (2, {"type": 1})])
    g.add_edges_from([(0, 1, {"type": 1}), (1, 2, {"type": 3})])
    return g


def test_dense_batch_matches_torch_geometric_dense_adjacency():
    graphs = [nx.gnp_random_graph(n, 0.4, seed=n) for n in (5, 9, 7)]
    batch = dense_batch([to_data(g) for g in graphs])
    for i, g in enumerate(graphs):
        data = to_data(g)
        expected = to_dense_adj(data.edge_index, max_num_nodes=9)[0].long()
        assert torch.equal(batch["edges"][i], expected)
    assert batch["context"]["node_mask"].sum(1).tolist() == [5, 9, 7]
    assert torch.equal(batch["edges"], batch["edges"].transpose(1, 2))
    assert batch["edges"].diagonal(dim1=1, dim2=2).abs().sum() == 0


def test_types_survive_batching_and_converting_back():
    batch = dense_batch([to_data(_typed_path()), to_data(nx.path_graph(2))], pad_to=4)
    assert batch["nodes"][0].tolist() == [2, 0, 1, 0] and batch["edges"][0, 1, 2] == 3
    back = batch_to_graphs(batch["nodes"], batch["edges"], batch["context"]["node_mask"])
    assert back[0].edges[1, 2]["type"] == 3 and back[0].nodes[0]["type"] == 2 and len(back[1]) == 2


def test_in_memory_dataset_holds_the_graphs():
    dataset = GraphListDataset([_typed_path(), nx.cycle_graph(4)])
    assert len(dataset) == 2 and dataset[1].num_nodes == 4 and dataset[1].edge_index.shape[1] == 8


def test_marginals_and_node_counts_hand_counted():
    node, edge = marginals([_typed_path()], num_node_types=3, num_edge_types=4)
    assert node.tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3])
    assert edge.tolist() == pytest.approx([2 / 6, 2 / 6, 0, 2 / 6])  # 6 ordered pairs: 2 absent, 2 x 1, 2 x 3
    probs = node_count_distribution([nx.path_graph(3), nx.path_graph(3), nx.path_graph(5)], max_nodes=5)
    assert probs.tolist() == pytest.approx([0, 0, 0, 2 / 3, 0, 1 / 3])


def test_datamodule_serves_named_benchmark():
    dm = GraphDataModule("community_small", max_nodes=20, batch_size=8)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["nodes"].shape[0] == 8 and batch["context"]["node_mask"].sum(1).max() <= 20
    assert len(dm.splits["train"]) == 80


def test_datamodule_rejects_too_large_graphs_and_unknown_types(tmp_path):
    write_graphs(tmp_path / "train.pt", [nx.path_graph(4), nx.path_graph(30)])
    with pytest.raises(DataError, match=r"train.pt, record 1: 30 nodes, more than the maximum 20"):
        GraphDataModule(train_file=str(tmp_path / "train.pt"), max_nodes=20).setup()
    write_graphs(tmp_path / "typed.pt", [nx.path_graph(3), _typed_path()])
    with pytest.raises(DataError, match=r"typed.pt, record 1: node type 2 >= num_node_types=1"):
        GraphDataModule(train_file=str(tmp_path / "typed.pt"), max_nodes=20).setup()
    with pytest.raises(DataError, match=r"record 1: edge type 3 >= num_edge_types=2"):
        GraphDataModule(train_file=str(tmp_path / "typed.pt"), max_nodes=20, num_node_types=3).setup()
