import networkx as nx
import pytest
import torch
from torch_geometric.data import Data

from domains.graphs.readers import read_graphs, write_graphs
from sciddm.errors import DataError

GRAPHS = [nx.cycle_graph(5), nx.path_graph(3), nx.complete_graph(4)]


def _typed() -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from([(0, {"type": 1}), (1, {"type": 0}), (2, {"type": 2}), (3, {"type": 0})])  # 3 isolated
    g.add_edges_from([(0, 1, {"type": 2}), (1, 2, {"type": 1})])
    return g


@pytest.mark.parametrize("suffix", [".pt", ".g6", ".txt"])
def test_round_trip_keeps_every_graph(tmp_path, suffix):
    path = tmp_path / f"graphs{suffix}"
    write_graphs(path, GRAPHS + [nx.empty_graph(2)])
    back = read_graphs(path)
    assert [(len(g), sorted(g.edges())) for g in back] == [(len(g), sorted(g.edges())) for g in
                                                           GRAPHS + [nx.empty_graph(2)]]


def test_pt_round_trip_keeps_node_and_edge_types(tmp_path):
    write_graphs(tmp_path / "t.pt", [_typed()])
    back = read_graphs(tmp_path / "t.pt")[0]
    assert [back.nodes[v]["type"] for v in range(4)] == [1, 0, 2, 0]
    assert back.edges[0, 1]["type"] == 2 and back.edges[1, 2]["type"] == 1


def test_graphml_and_a_directory_in_name_order(tmp_path):
    g = _typed()
    nx.write_graphml(g, tmp_path / "b.graphml")
    write_graphs(tmp_path / "a.g6", GRAPHS)
    graphs = read_graphs(tmp_path)
    assert len(graphs) == 4
    assert graphs[3].edges[0, 1]["type"] == 2 and graphs[3].nodes[2]["type"] == 2


def test_dense_dict_written_by_a_sampler(tmp_path):
    edges = torch.zeros(2, 3, 3, dtype=torch.long)
    edges[0, 0, 1] = edges[0, 1, 0] = 1
    mask = torch.tensor([[True, True, True], [True, True, False]])
    torch.save({"nodes": torch.zeros(2, 3, dtype=torch.long), "edges": edges, "node_mask": mask}, tmp_path / "s.pt")
    graphs = read_graphs(tmp_path / "s.pt")
    assert [(len(g), g.number_of_edges()) for g in graphs] == [(3, 1), (2, 0)]


def _edge_list(tmp_path, text: str):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("0 1\n1 2\n\n0 1\n1 x\n", r"bad.txt, record 1: line 5: expected 'u v'"),
    ("0 1\n\n0 1 2 3\n", r"record 1: line 3: expected"),
    ("0 1\n1 -2\n", r"record 0: line 2: expected"),
    ("0 1 0\n", r"record 0: line 1: edge type must be >= 1"),
    ("0 1\n1 1\n", r"record 0: self-loop at node 1"),
    ("0 1\n\n0 1 1\n1 0 2\n", r"record 1: line 4: edge 1-0 listed with two types \(directed"),
    ("nodes 2\n0 5\n", r"record 0: 'nodes 2' declared but node id 5 is used"),
])
def test_malformed_edge_lists_name_file_and_graph(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_graphs(_edge_list(tmp_path, text))


def test_graph_larger_than_the_model_maximum(tmp_path):
    write_graphs(tmp_path / "g.g6", GRAPHS[::-1])
    with pytest.raises(DataError, match=r"g.g6, record 2: 5 nodes, more than the maximum 4"):
        read_graphs(tmp_path / "g.g6", max_nodes=4)


def test_bad_graph6_lines(tmp_path):
    (tmp_path / "d.g6").write_bytes(b"Dhc\n&DI?AO?\n")
    with pytest.raises(DataError, match=r"d.g6, record 1: digraph6 line: directed"):
        read_graphs(tmp_path / "d.g6")
    (tmp_path / "m.g6").write_bytes(b"Dhc\nD\n")
    with pytest.raises(DataError, match=r"m.g6, record 1: malformed graph6"):
        read_graphs(tmp_path / "m.g6")


def test_directed_pt_and_graphml_are_rejected(tmp_path):
    data = Data(edge_index=torch.tensor([[0, 1, 1], [1, 0, 2]]), num_nodes=3)
    torch.save([Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=1), data], tmp_path / "d.pt")
    with pytest.raises(DataError, match=r"d.pt, record 1: directed edge 1->2 without its reverse"):
        read_graphs(tmp_path / "d.pt")
    nx.write_graphml(nx.DiGraph([(0, 1)]), tmp_path / "d.graphml")
    with pytest.raises(DataError, match=r"d.graphml, record 0: directed edge 0->1"):
        read_graphs(tmp_path / "d.graphml")
    loops = {"nodes": torch.zeros(1, 2, dtype=torch.long), "edges": torch.eye(2, dtype=torch.long)[None],
             "node_mask": torch.ones(1, 2, dtype=torch.bool)}
    torch.save(loops, tmp_path / "l.pt")
    with pytest.raises(DataError, match=r"l.pt, record 0: non-zero diagonal"):
        read_graphs(tmp_path / "l.pt")


def test_missing_unknown_and_empty_inputs(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_graphs(tmp_path / "none.g6")
    (tmp_path / "x.csv").write_text("0,1\n")
    with pytest.raises(DataError, match="unknown graph file suffix '.csv'"):
        read_graphs(tmp_path / "x.csv")
    with pytest.raises(DataError, match="no graph files"):
        read_graphs(tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(DataError, match=r"junk.pt, record 0: cannot load"):
        read_graphs(tmp_path / "junk.pt")


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(DataError):
        write_graphs(tmp_path / "out.csv", GRAPHS)
    with pytest.raises(nx.NetworkXError):
        write_graphs(tmp_path / "out.txt", [GRAPHS[0], object()])
    assert list(tmp_path.iterdir()) == []
