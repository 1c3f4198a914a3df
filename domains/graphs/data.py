"""torch-geometric data sets and the ``DiffusionDataModule`` of graphs: dense padded batches for training,
sample templates, metrics, sample files and pictures for the core's sampler.

A batch is ``{"nodes": [B, N] long, "edges": [B, N, N] long, "context": {"node_mask": [B, N] bool}}``:
node types, symmetric edge types with a zero diagonal (0 = no edge), and which of the ``N`` slots hold real
nodes; ``N`` is the largest graph in the batch (or ``pad_to`` when set). Padded slots have type 0 and no edges.
The two fields are categorical (:class:`sciddm.categorical_fields.CategoricalField`): ``nodes`` with the
node mask, ``edges`` with ``symmetric=True`` and the node mask, both with the training marginals as prior
(DiGress, Vignac et al. 2023). ``python -m domains.graphs.data DATASET`` prints those marginals for a config.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import torch
from torch.utils.data import DataLoader
from torch_geometric.data import Data, InMemoryDataset

from domains.graphs.constraints import CONSTRAINTS, EdgeProjector, check_absorbing_edges
from domains.graphs.convert import batch_to_graphs, to_data
from domains.graphs.cuts import bisection_sides
from domains.graphs.datasets import load_dataset
from domains.graphs.readers import check_graph, read_graphs
from sciddm.errors import ConfigError, DataError, choose
from sciddm.io import atomic_path
from sciddm.lightning.data import DiffusionDataModule


class GraphListDataset(InMemoryDataset):
    """An in-memory torch-geometric data set built from networkx graphs (nothing is written to disk); with
    ``cut_sides`` (one long ``[n]`` tensor per graph) each ``Data`` also carries it as ``cut_side``."""

    def __init__(self, graphs: list[nx.Graph], cut_sides: list[torch.Tensor] | None = None):
        super().__init__(root=None)
        items = [to_data(g) for g in graphs]
        if cut_sides is not None:
            for data, sides in zip(items, cut_sides, strict=True):
                data.cut_side = sides
        self.data, self.slices = self.collate(items)


def dense_batch(items: list[Data], pad_to: int | None = None) -> dict:
    """Collate ``Data`` objects into the dense padded batch described in the module docstring; items carrying
    ``cut_side`` add ``context["cut_side"]`` [B, N] long (0 on padding)."""
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
    context = {"node_mask": mask}
    if "cut_side" in items[0]:
        context["cut_side"] = torch.zeros(batch, size, dtype=torch.long)
        for i, data in enumerate(items):
            context["cut_side"][i, : int(data.num_nodes)] = data.cut_side
    return {"nodes": nodes, "edges": edges, "context": context}


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


class GraphDataModule(DiffusionDataModule):
    """Dense graph batches from a named data set (:mod:`domains.graphs.datasets`) or from graph files, and what
    the core needs to sample, score, write and draw graphs.

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
        validity: validity rule of the metrics (planar, sbm, connected, tree; default: the data set's rule,
            none for other sets).
        nspdk: also score samples by NSPDK MMD^2 (:mod:`domains.graphs.nspdk`; about 0.2 CPU s per 64-node graph).
        cut_sides: training batches also carry ``context["cut_side"]``, each node's side of its graph's balanced
            bisection with the fewest cut edges (:func:`domains.graphs.cuts.bisection_sides`, computed once), for
            :class:`domains.graphs.cut_dropout.CutDropoutEdgeField`; validation and test batches never do.
        num_workers: DataLoader workers.
        constraint: a structural property every sample keeps exactly (``planar`` or ``forest``), enforced by
            :class:`domains.graphs.constraints.EdgeProjector` at every sampling step (ConStruct); needs an edge
            field that absorbs into "no edge". Sampling only; training is unchanged.

    Sampling side: :meth:`sample_template` draws each sample's node count from the training distribution;
    :meth:`evaluate_samples` scores samples against the test split (MMD^2 under both protocols, DeFoG ratios,
    uniqueness, novelty, validity and V.U.N. with the training split, NSPDK MMD^2, and for molecular sets RDKit
    validity, uniqueness and novelty; :func:`domains.graphs.metrics.graph_metrics`);
    :meth:`write_samples` saves ``{nodes, edges, node_mask}`` with ``torch.save`` (readable by
    :func:`domains.graphs.readers.read_graphs`); :meth:`render_samples` draws samples beside test graphs.
    """

    def __init__(self, dataset: str = "community_small", train_file: str | None = None,
                 val_file: str | None = None, test_file: str | None = None, max_nodes: int = 64,
                 num_node_types: int = 1, num_edge_types: int = 2, batch_size: int = 32, seed: int = 0,
                 limit: int | None = None, pad_to: int | None = None, validity: str | None = None,
                 nspdk: bool = True, cut_sides: bool = False, num_workers: int = 0, constraint: str | None = None):
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        if constraint is not None:
            choose(constraint, CONSTRAINTS, "graph constraint")
        self.save_hyperparameters()
        self.splits: dict[str, list[nx.Graph]] = {}
        self._cut_sides: list[torch.Tensor] | None = None
        self.atoms: tuple[str, ...] | None = None

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
            self.atoms = loaded.atoms
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

    def split_loader(self, split: str, shuffle: bool) -> DataLoader:
        """Dense padded batches of ``split`` (the core's train / val / test loaders call this)."""
        self.setup()
        dataset = list(GraphListDataset(self.splits[split], self.cut_sides() if split == "train" else None))
        return self._loader(dataset, shuffle, collate_fn=lambda items: dense_batch(items, self.hparams.pad_to))

    def cut_sides(self) -> list[torch.Tensor] | None:
        """Per training graph, its nodes' sides of the fewest-edge balanced bisection (None unless ``cut_sides``)."""
        if self.hparams.cut_sides and self._cut_sides is None:
            self._cut_sides = [bisection_sides(graph) for graph in self.splits["train"]]
        return self._cut_sides

    def node_count_distribution(self) -> torch.Tensor:
        """Probabilities of node counts 0..max_nodes in the training split."""
        self.setup()
        return node_count_distribution(self.splits["train"], self.hparams.max_nodes)

    def marginals(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Node-type and edge-type marginals of the training split."""
        self.setup()
        return marginals(self.splits["train"], self.hparams.num_node_types, self.hparams.num_edge_types)

    # ------------------------------------------------------------------ sampling, scoring, writing
    def sample_template(self, num_samples: int, generator: torch.Generator | None = None
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Empty graphs whose node counts are drawn (with ``generator``) from the training distribution, padded
        to the largest drawn count (or ``pad_to``): all types 0 and ``node_mask`` marking the real nodes."""
        probs = self.node_count_distribution().float()
        device = generator.device if generator is not None else torch.device("cpu")
        counts = torch.multinomial(probs.to(device), num_samples, replacement=True, generator=generator).cpu()
        size = int(counts.max()) if self.hparams.pad_to is None else self.hparams.pad_to
        mask = torch.arange(size)[None, :] < counts[:, None]
        template = {"nodes": torch.zeros(num_samples, size, dtype=torch.long),
                    "edges": torch.zeros(num_samples, size, size, dtype=torch.long)}
        return template, {"node_mask": mask}

    def sampling_steering(self, fields: dict) -> dict[str, list]:
        """The constraint's edge projector as a step hook (none without ``constraint``)."""
        steering = super().sampling_steering(fields)
        if self.hparams.constraint is not None:
            check_absorbing_edges(fields["edges"])
            steering["hooks"] = [*steering["hooks"], EdgeProjector(self.hparams.constraint)]
        return steering

    @staticmethod
    def sample_graphs(samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor]) -> list[nx.Graph]:
        """The sampled graphs as networkx graphs (real nodes only; the upper triangle of ``edges``)."""
        return batch_to_graphs(samples["nodes"].cpu(), samples["edges"].cpu(), context["node_mask"].cpu().bool())

    def evaluate_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor]
                         ) -> dict[str, float]:
        from domains.graphs.metrics import DATASET_VALIDITY, graph_metrics

        self.setup()
        hp = self.hparams
        validity = hp.validity or (None if hp.train_file is not None else DATASET_VALIDITY.get(hp.dataset))
        return graph_metrics(self.sample_graphs(samples, context), reference=self.splits["test"],
                             train=self.splits["train"], validity=validity, atoms=self.atoms, nspdk=hp.nspdk)

    def write_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor], path: Path) -> Path:
        """``torch.save`` of ``{"nodes", "edges", "node_mask"}`` (CPU tensors), written atomically."""
        dense = {"nodes": samples["nodes"].cpu(), "edges": samples["edges"].cpu(),
                 "node_mask": context["node_mask"].cpu().bool()}
        with atomic_path(path) as tmp:
            torch.save(dense, tmp)
        return Path(path)

    def render_samples(self, samples: dict[str, torch.Tensor], context: dict[str, torch.Tensor], path: Path) -> Path:
        from domains.graphs.plots import write_graph_grid

        self.setup()
        return write_graph_grid(self.sample_graphs(samples, context), self.splits["test"], path)


def main(argv: list[str] | None = None) -> None:
    """Print a named data set's training marginals as YAML lists (the ``marginal`` entries of the configs)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("dataset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_node_types", type=int, default=1)
    parser.add_argument("--num_edge_types", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(argv)
    node, edge = marginals(load_dataset(args.dataset, seed=args.seed, limit=args.limit).train, args.num_node_types,
                           args.num_edge_types)
    for name, values in (("nodes", node), ("edges", edge)):
        print(f"{name}: [{', '.join(f'{v:.6f}' for v in values.tolist())}]")


if __name__ == "__main__":
    main()
