"""torch-geometric data sets and a ``LightningDataModule`` that serves dense padded graph batches.

A batch is ``{"nodes": [B, N] long, "edges": [B, N, N] long, "context": {"node_mask": [B, N] bool}}``:
node types, symmetric edge types with a zero diagonal (0 = no edge), and which of the ``N`` slots hold real
nodes; ``N`` is the largest graph in the batch (or ``pad_to`` when set). Padded slots have type 0 and no edges.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from torch_geometric.data import Data, InMemoryDataset

from domains.graphs.convert import to_data
from domains.graphs.datasets import load_dataset
from domains.graphs.readers import check_graph, read_graphs
from sciddm.errors import ConfigError, DataError


class GraphListDataset(InMemoryDataset):
    """An in-memory torch-geometric data set built from networkx graphs (nothing is written to disk)."""

    def __init__(self, graphs: list[nx.Graph]):
        super().__init__(root=None)
        self.data, self.slices = self.collate([to_data(g) for g in graphs])


def dense_batch(items: list[Data], pad_to: int | None = None) -> dict:
    """Collate ``Data`` objects into the dense padded batch described in the module docstring."""
    size = max(int(d.num_nodes) for d in items) if pad_to is None else pad_to
    batch = len(items)
    nodes = torch.zeros(batch, size, dtype=torch.long)
    edges = torch.zeros(batch, size, size, dtype=torch.long)
    mask = torch.zeros(batch, size, dtype=torch.bool)
    for i, data in enumerate(items):
        n = int(data.num_nodes)
        nodes[i, :n] = data.x
        edges[i, data.edge_index[0], data.edge_index[1]] = data.edge_attr
        mask[i, :n] = True
    return {"nodes": nodes, "edges": edges, "context": {"node_mask": mask}}


def node_count_distribution(graphs: list[nx.Graph], max_nodes: int) -> torch.Tensor:
    """Empirical probabilities of node counts 0..``max_nodes`` in ``graphs`` (to draw sample sizes from)."""
    counts = torch.bincount(torch.tensor([g.number_of_nodes() for g in graphs]), minlength=max_nodes + 1)
    return counts[: max_nodes + 1].double() / counts.sum()


def marginals(graphs: list[nx.Graph], num_node_types: int, num_edge_types: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Training marginals of node types and of edge types over all node pairs (DiGress's marginal prior)."""
    node = torch.zeros(num_node_types, dtype=torch.float64)
    edge = torch.zeros(num_edge_types, dtype=torch.float64)
    for graph in graphs:
        for _, t in graph.nodes(data="type"):
            node[t] += 1
        n = graph.number_of_nodes()
        for _, _, t in graph.edges(data="type"):
            edge[t] += 2
        edge[0] += n * (n - 1) - 2 * graph.number_of_edges()
    return node / node.sum(), edge / edge.sum()


class GraphDataModule(pl.LightningDataModule):
    """Dense graph batches from a named data set (:mod:`domains.graphs.datasets`) or from graph files.

    Args:
        dataset: a data set name (community_small, grid, planar, sbm, atlas, qm9, moses); ignored when
            ``train_file`` is given.
        train_file, val_file, test_file: graph files or directories (formats of :mod:`domains.graphs.readers`);
            a missing validation / test file reuses the training graphs.
        max_nodes: the model's maximum graph size; a larger graph raises ``DataError`` naming file and index.
        num_node_types, num_edge_types: alphabet sizes K (edge type 0 = no edge); a graph using a larger type
            raises ``DataError``.
        batch_size, seed, limit: loader batch size, data set seed, cap on molecular data set size.
        pad_to: pad every batch to this many nodes (default: the largest graph in the batch).
    """

    def __init__(self, dataset: str = "community_small", train_file: str | None = None,
                 val_file: str | None = None, test_file: str | None = None, max_nodes: int = 64,
                 num_node_types: int = 1, num_edge_types: int = 2, batch_size: int = 32, seed: int = 0,
                 limit: int | None = None, pad_to: int | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.splits: dict[str, list[nx.Graph]] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        hp = self.hparams
        if hp.train_file is not None:
            train = read_graphs(hp.train_file, hp.max_nodes)
            self.splits = {"train": train,
                           "val": read_graphs(hp.val_file, hp.max_nodes) if hp.val_file else train,
                           "test": read_graphs(hp.test_file, hp.max_nodes) if hp.test_file else train}
            sources = {"train": hp.train_file, "val": hp.val_file or hp.train_file,
                       "test": hp.test_file or hp.train_file}
        else:
            loaded = load_dataset(hp.dataset, seed=hp.seed, limit=hp.limit)
            self.splits = {"train": loaded.train, "val": loaded.val, "test": loaded.test}
            sources = dict.fromkeys(self.splits, f"data set {hp.dataset}")
        for name, graphs in self.splits.items():
            for i, graph in enumerate(graphs):
                check_graph(graph, sources[name], i, hp.max_nodes)
                self._check_types(graph, sources[name], i)
        if hp.pad_to is not None and hp.pad_to < hp.max_nodes:
            raise ConfigError(f"pad_to={hp.pad_to} is smaller than max_nodes={hp.max_nodes}")

    def _check_types(self, graph: nx.Graph, source: str | Path, index: int) -> None:
        node_types = [t for _, t in graph.nodes(data="type")]
        edge_types = [t for _, _, t in graph.edges(data="type")]
        if node_types and max(node_types) >= self.hparams.num_node_types:
            raise DataError(source, f"node type {max(node_types)} >= num_node_types={self.hparams.num_node_types}",
                            index)
        if edge_types and max(edge_types) >= self.hparams.num_edge_types:
            raise DataError(source, f"edge type {max(edge_types)} >= num_edge_types={self.hparams.num_edge_types}",
                            index)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = GraphListDataset(self.splits[split])
        generator = torch.Generator().manual_seed(self.hparams.seed)
        return DataLoader(list(dataset), batch_size=self.hparams.batch_size, shuffle=shuffle, generator=generator,
                          collate_fn=lambda items: dense_batch(items, self.hparams.pad_to))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def node_count_distribution(self) -> torch.Tensor:
        """Probabilities of node counts 0..max_nodes in the training split."""
        return node_count_distribution(self.splits["train"], self.hparams.max_nodes)

    def marginals(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Node-type and edge-type marginals of the training split."""
        return marginals(self.splits["train"], self.hparams.num_node_types, self.hparams.num_edge_types)
