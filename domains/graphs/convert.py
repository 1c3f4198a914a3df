"""Conversions between networkx graphs, torch-geometric ``Data`` and dense padded tensors.

All three describe the same object: an undirected simple graph with categorical node types (``"type"``, an
int >= 0) and categorical edge types (``"type"``, an int >= 1; 0 means "no edge"). Nodes are renumbered
``0..n-1`` in the order networkx lists them.
"""

from __future__ import annotations

import networkx as nx
import torch
from torch_geometric.data import Data

NODE_TYPE = "type"
EDGE_TYPE = "type"


def relabel(graph: nx.Graph) -> nx.Graph:
    """A copy of ``graph`` with nodes ``0..n-1`` and default types (node 0, edge 1) filled in."""
    out = nx.convert_node_labels_to_integers(nx.Graph(graph), ordering="default")
    for _, attrs in out.nodes(data=True):
        attrs[NODE_TYPE] = int(attrs.get(NODE_TYPE, 0))
    for _, _, attrs in out.edges(data=True):
        attrs[EDGE_TYPE] = int(attrs.get(EDGE_TYPE, 1))
    return out


def to_data(graph: nx.Graph) -> Data:
    """Networkx graph -> ``Data(x, edge_index, edge_attr, num_nodes)`` with both edge directions listed."""
    graph = relabel(graph)
    n = graph.number_of_nodes()
    x = torch.tensor([graph.nodes[v][NODE_TYPE] for v in range(n)], dtype=torch.long)
    pairs = [(u, v, a[EDGE_TYPE]) for u, v, a in graph.edges(data=True)]
    src = [u for u, v, _ in pairs] + [v for u, v, _ in pairs]
    dst = [v for u, v, _ in pairs] + [u for u, v, _ in pairs]
    types = [t for _, _, t in pairs] * 2
    edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    edge_attr = torch.tensor(types, dtype=torch.long)
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, num_nodes=n)


def dense_to_graph(nodes: torch.Tensor, edges: torch.Tensor, node_mask: torch.Tensor | None = None) -> nx.Graph:
    """One dense graph (``nodes`` [N], ``edges`` [N, N], optional ``node_mask`` [N]) -> networkx graph.

    Only the upper triangle of ``edges`` is read, so a sampled non-symmetric tensor still gives a graph.
    """
    keep = torch.arange(nodes.shape[0]) if node_mask is None else node_mask.nonzero().flatten()
    nodes = nodes[keep].tolist()
    edges = edges[keep][:, keep]
    graph = nx.Graph()
    graph.add_nodes_from((i, {NODE_TYPE: int(t)}) for i, t in enumerate(nodes))
    rows, cols = torch.triu(edges, diagonal=1).nonzero(as_tuple=True)
    graph.add_edges_from((int(i), int(j), {EDGE_TYPE: int(edges[i, j])}) for i, j in zip(rows, cols, strict=True))
    return graph


def first_column(values: torch.Tensor) -> torch.Tensor:
    """Type indices stored either as [M] or as [M, C] (first column used)."""
    return values if values.dim() == 1 else values[:, 0]


def data_to_graph(data: Data) -> nx.Graph:
    """``Data`` -> networkx graph (edge types from ``edge_attr`` when present, else 1; node types from ``x``)."""
    n = int(data.num_nodes)
    x = getattr(data, "x", None)
    types = [0] * n if x is None else first_column(x).long().tolist()
    graph = nx.Graph()
    graph.add_nodes_from((i, {NODE_TYPE: int(t)}) for i, t in enumerate(types))
    attr = getattr(data, "edge_attr", None)
    edge_types = [1] * data.edge_index.shape[1] if attr is None else first_column(attr).long().tolist()
    for (u, v), t in zip(data.edge_index.t().tolist(), edge_types, strict=True):
        graph.add_edge(u, v, **{EDGE_TYPE: int(t)})
    return graph


def batch_to_graphs(nodes: torch.Tensor, edges: torch.Tensor, node_mask: torch.Tensor) -> list[nx.Graph]:
    """A dense batch (``nodes`` [B, N], ``edges`` [B, N, N], ``node_mask`` [B, N]) -> list of graphs."""
    return [dense_to_graph(n, e, m) for n, e, m in zip(nodes, edges, node_mask, strict=True)]


def adjacency(graph: nx.Graph):
    """Dense 0/1 float numpy adjacency in node order ``0..n-1`` (edge types ignored)."""
    return nx.to_numpy_array(graph, nodelist=sorted(graph.nodes()), weight=None)
