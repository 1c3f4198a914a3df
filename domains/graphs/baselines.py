"""Two classical samplers fitted on a training split, for benchmark tables.

* :class:`ErdosRenyiBaseline`: node counts drawn from the training node-count histogram; every pair is an edge
  with the pooled training density ``p = sum_G |E_G| / sum_G C(n_G, 2)``.
* :class:`SBMBaseline`: a block model is fitted to every training graph (:func:`fit_blockmodel`); a sample
  copies the block sizes of a uniformly drawn training graph and joins pairs with the pooled intra-block
  probability (inner edges / inner pairs over all fitted blocks) and pooled inter-block probability.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from domains.graphs.blockmodel import fit_blockmodel
from domains.graphs.convert import adjacency
from domains.graphs.generators import erdos_renyi, sample_sbm


class ErdosRenyiBaseline:
    """G(n, p) with training node counts and matched edge density."""

    def fit(self, graphs: list[nx.Graph]) -> ErdosRenyiBaseline:
        self.node_counts = [g.number_of_nodes() for g in graphs]
        pairs = sum(n * (n - 1) / 2 for n in self.node_counts)
        self.p = sum(g.number_of_edges() for g in graphs) / pairs
        return self

    def sample(self, num_graphs: int, seed: int = 0) -> list[nx.Graph]:
        rng = np.random.default_rng(seed)
        counts = rng.choice(self.node_counts, size=num_graphs).tolist()
        return erdos_renyi(counts, self.p, seed=int(rng.integers(2**31)))


class SBMBaseline:
    """Block sizes from a training graph, pooled intra / inter edge probabilities."""

    def __init__(self, max_blocks: int = 6, seed: int = 0):
        self.max_blocks = max_blocks
        self.seed = seed

    def fit(self, graphs: list[nx.Graph]) -> SBMBaseline:
        fits = [fit_blockmodel(adjacency(g), self.max_blocks, self.seed) for g in graphs]
        self.block_sizes = [f.sizes for f in fits]
        inner_edges = sum(np.trace(f.edges) for f in fits)
        inner_pairs = sum((f.sizes * (f.sizes - 1) / 2).sum() for f in fits)
        cross_edges = sum((f.edges.sum() - np.trace(f.edges)) / 2 for f in fits)  # m_rs sits at [r,s] and [s,r]
        all_pairs = sum(f.sizes.sum() * (f.sizes.sum() - 1) / 2 for f in fits)
        self.p_intra = inner_edges / inner_pairs
        self.p_inter = cross_edges / max(all_pairs - inner_pairs, 1)
        return self

    def sample(self, num_graphs: int, seed: int = 0) -> list[nx.Graph]:
        rng = np.random.default_rng(seed)
        graphs = []
        for i in rng.integers(len(self.block_sizes), size=num_graphs):
            sizes = self.block_sizes[i]
            probs = np.where(np.eye(len(sizes), dtype=bool), self.p_intra, self.p_inter)
            graphs.append(sample_sbm(sizes, probs, rng))
        return graphs
