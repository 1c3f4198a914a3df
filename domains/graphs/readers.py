"""Read and write files of undirected simple graphs; every bad record raises a ``DataError`` naming the file
and the graph index (0-based, counted across a directory in file-name order).

Formats, chosen by suffix:

* ``.g6`` / ``.graph6`` / ``.s6`` / ``.sparse6``: one graph per line (graph6 or sparse6, optional ``>>graph6<<``
  header); untyped. digraph6 lines (``&``) are rejected as directed.
* ``.txt`` / ``.edgelist`` / ``.edges``: edge lists, graphs separated by blank lines; a line is ``u v`` or
  ``u v type`` with integer node ids >= 0 and edge type >= 1, or ``nodes N`` declaring the node count (so
  isolated nodes survive; otherwise a graph has ``max id + 1`` nodes); ``#`` starts a comment. Both ``u v``
  and ``v u`` may appear only with the same type. Nodes are untyped (type 0).
* ``.graphml``: one graph; node and edge attribute ``type`` (int) read when present. A directed GraphML graph
  is accepted only if every edge has its reverse with the same type.
* ``.pt``: ``torch.save`` of a list of torch-geometric ``Data`` (``x`` node types, ``edge_index`` both
  directions, optional ``edge_attr`` edge types), a single ``Data``, or a dict of dense tensors ``nodes``
  [B, N], ``edges`` [B, N, N], ``node_mask`` [B, N] (what a sampler writes).
* a directory: every file above inside it, in sorted name order.

Every graph is checked: no self-loops, no directed edges, at most ``max_nodes`` nodes when given.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import torch
from torch_geometric.data import Data

from domains.graphs.convert import EDGE_TYPE, NODE_TYPE, data_to_graph, dense_to_graph, first_column, relabel, to_data
from sciddm.errors import DataError
from sciddm.io import atomic_path, atomic_write

GRAPH6 = {".g6", ".graph6", ".s6", ".sparse6"}
EDGE_LIST = {".txt", ".edgelist", ".edges"}
SUFFIXES = GRAPH6 | EDGE_LIST | {".graphml", ".pt"}


def read_graphs(path: str | Path, max_nodes: int | None = None) -> list[nx.Graph]:
    """All graphs in ``path`` (a file or a directory), checked; see the module docstring for formats."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or directory")
    files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise DataError(path, f"no graph files ({', '.join(sorted(SUFFIXES))}) in directory")
    graphs: list[nx.Graph] = []
    for file in files:
        for graph in _read_file(file, len(graphs)):
            check_graph(graph, file, len(graphs), max_nodes)
            graphs.append(relabel(graph))
    return graphs


def check_graph(graph: nx.Graph, path: str | Path, index: int, max_nodes: int | None = None) -> None:
    """Raise ``DataError`` for self-loops or more than ``max_nodes`` nodes."""
    loops = list(nx.selfloop_edges(graph))
    if loops:
        raise DataError(path, f"self-loop at node {loops[0][0]} (graphs must be simple)", index)
    if max_nodes is not None and graph.number_of_nodes() > max_nodes:
        raise DataError(path, f"{graph.number_of_nodes()} nodes, more than the maximum {max_nodes}", index)


def _read_file(path: Path, first: int) -> Iterator[nx.Graph]:
    if path.suffix in GRAPH6:
        yield from _read_graph6(path, first)
    elif path.suffix in EDGE_LIST:
        yield from _read_edge_list(path, first)
    elif path.suffix == ".graphml":
        yield _read_graphml(path, first)
    elif path.suffix == ".pt":
        yield from _read_pt(path, first)
    else:
        raise DataError(path, f"unknown graph file suffix {path.suffix!r}; use one of {', '.join(sorted(SUFFIXES))}")


def _read_graph6(path: Path, first: int) -> Iterator[nx.Graph]:
    lines = [ln.strip() for ln in path.read_bytes().splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        line = line.removeprefix(b">>graph6<<").removeprefix(b">>sparse6<<")
        if line.startswith(b"&"):
            raise DataError(path, "digraph6 line: directed graph where undirected is expected", first + i)
        try:
            graph = nx.from_sparse6_bytes(line) if line.startswith(b":") else nx.from_graph6_bytes(line)
        except (nx.NetworkXError, ValueError, IndexError) as err:
            raise DataError(path, f"malformed graph6/sparse6 line: {err}", first + i) from None
        if graph.is_multigraph():
            if graph.number_of_edges() != nx.Graph(graph).number_of_edges():
                raise DataError(path, "repeated edge in sparse6 line (graphs must be simple)", first + i)
            graph = nx.Graph(graph)
        yield graph


def _edge_list_blocks(path: Path) -> Iterator[list[tuple[int, str]]]:
    block: list[tuple[int, str]] = []
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            block.append((number, line))
        elif block and not raw.strip():
            yield block
            block = []
    if block:
        yield block


def _read_edge_list(path: Path, first: int) -> Iterator[nx.Graph]:
    for i, block in enumerate(_edge_list_blocks(path)):
        edges: dict[tuple[int, int], int] = {}
        declared = None
        for number, line in block:
            if line.split()[0] == "nodes":
                declared = _parse_node_count(line, path, first + i, number)
                continue
            u, v, kind = _parse_edge(line, path, first + i, number)
            key = (min(u, v), max(u, v))
            if edges.get(key, kind) != kind:
                raise DataError(path, f"line {number}: edge {u}-{v} listed with two types (directed edge where "
                                      "undirected is expected)", first + i)
            edges[key] = kind
        used = 1 + max((v for key in edges for v in key), default=-1)
        if declared is not None and declared < used:
            raise DataError(path, f"'nodes {declared}' declared but node id {used - 1} is used", first + i)
        graph = nx.empty_graph(used if declared is None else declared)
        graph.add_edges_from((u, v, {EDGE_TYPE: kind}) for (u, v), kind in edges.items())
        yield graph


def _parse_node_count(line: str, path: Path, index: int, number: int) -> int:
    fields = line.split()
    if len(fields) != 2 or not fields[1].isdigit():
        raise DataError(path, f"line {number}: expected 'nodes N' with an integer N >= 0, got {line!r}", index)
    return int(fields[1])


def _parse_edge(line: str, path: Path, index: int, number: int) -> tuple[int, int, int]:
    fields = line.split()
    values = [int(f) for f in fields] if all(f.isdigit() for f in fields) else []
    if len(values) not in (2, 3):
        raise DataError(path, f"line {number}: expected 'u v' or 'u v type' with integers >= 0, got {line!r}", index)
    kind = values[2] if len(values) == 3 else 1
    if kind < 1:
        raise DataError(path, f"line {number}: edge type must be >= 1 (0 means no edge), got {kind}", index)
    return values[0], values[1], kind


def _read_graphml(path: Path, index: int) -> nx.Graph:
    try:
        raw = nx.read_graphml(path)
    except Exception as err:  # networkx raises NetworkXError, ParseError, KeyError, ... for broken XML
        raise DataError(path, f"malformed GraphML: {err}", index) from None
    if raw.is_multigraph():
        raise DataError(path, "multigraph (parallel edges) where a simple graph is expected", index)
    if raw.is_directed():
        for u, v, attrs in raw.edges(data=True):
            if not raw.has_edge(v, u) or raw.edges[v, u].get(EDGE_TYPE) != attrs.get(EDGE_TYPE):
                raise DataError(path, f"directed edge {u}->{v} without its reverse (undirected graph expected)",
                                index)
    graph = nx.Graph()
    graph.add_nodes_from((v, {NODE_TYPE: int(a.get(NODE_TYPE, 0))}) for v, a in raw.nodes(data=True))
    graph.add_edges_from((u, v, {EDGE_TYPE: int(a.get(EDGE_TYPE, 1))}) for u, v, a in raw.edges(data=True))
    return graph


def _read_pt(path: Path, first: int) -> Iterator[nx.Graph]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # pickle and zip errors come in many types
        raise DataError(path, f"cannot load torch file: {err}", first) from None
    if isinstance(obj, dict) and {"nodes", "edges", "node_mask"} <= set(obj):
        yield from _dense_graphs(obj, path, first)
        return
    items = [obj] if isinstance(obj, Data) else obj
    if not isinstance(items, (list, tuple)) or not all(isinstance(d, Data) for d in items):
        raise DataError(path, "expected a list of torch_geometric Data or a dict with nodes/edges/node_mask", first)
    for i, data in enumerate(items):
        if data.edge_index.numel():
            _check_edge_index(data, path, first + i)
        yield data_to_graph(data)


def _check_edge_index(data: Data, path: Path, index: int) -> None:
    n = int(data.num_nodes)
    ei = data.edge_index
    if ei.min() < 0 or ei.max() >= n:
        raise DataError(path, f"edge_index refers to node {int(ei.max())} but the graph has {n} nodes", index)
    attr = data.edge_attr
    types = torch.ones(ei.shape[1], dtype=torch.long) if attr is None else first_column(attr).long()
    forward = dict(zip(map(tuple, ei.t().tolist()), types.tolist(), strict=True))
    for (u, v), kind in forward.items():
        if forward.get((v, u)) != kind:
            raise DataError(path, f"directed edge {u}->{v} without its reverse (undirected graph expected)", index)


def _dense_graphs(obj: dict, path: Path, first: int) -> Iterator[nx.Graph]:
    nodes, edges, mask = obj["nodes"], obj["edges"], obj["node_mask"].bool()
    for i in range(nodes.shape[0]):
        sub = edges[i][mask[i]][:, mask[i]]
        if not torch.equal(sub, sub.T):
            raise DataError(path, "edges tensor is not symmetric (undirected graph expected)", first + i)
        if sub.diagonal().any():
            raise DataError(path, "non-zero diagonal in edges tensor (self-loop)", first + i)
        yield dense_to_graph(nodes[i], edges[i], mask[i])


def write_graphs(path: str | Path, graphs: list[nx.Graph]) -> None:
    """Write ``graphs`` atomically as ``.pt`` (typed), ``.g6`` (untyped) or an edge list (typed)."""
    path = Path(path)
    if path.suffix == ".pt":
        with atomic_path(path) as tmp:
            torch.save([to_data(g) for g in graphs], tmp)
    elif path.suffix in {".g6", ".graph6"}:
        with atomic_write(path, "wb") as handle:
            for graph in graphs:
                handle.write(nx.to_graph6_bytes(relabel(graph), header=False))
    elif path.suffix in EDGE_LIST:
        with atomic_write(path) as handle:
            handle.write("\n\n".join(_edge_list_text(relabel(g)) for g in graphs) + "\n")
    else:
        raise DataError(path, "write graphs as .pt, .g6 or an edge list (.txt/.edgelist/.edges)")


def _edge_list_text(graph: nx.Graph) -> str:
    """A ``nodes N`` line, then one ``u v type`` line per edge."""
    lines = [f"nodes {graph.number_of_nodes()}"]
    lines += [f"{u} {v} {a[EDGE_TYPE]}" for u, v, a in sorted(graph.edges(data=True))]
    return "\n".join(lines)
