"""Fitting a (non-degree-corrected) stochastic block model to one graph.

Given a partition ``b`` of the ``n`` nodes into ``K`` blocks with sizes ``n_r`` and edge counts ``m_rs`` between
blocks (``m_rr`` inside a block), the profile log-likelihood of the Bernoulli SBM is

    L(b) = sum_{r <= s} [m_rs log p_rs + (N_rs - m_rs) log(1 - p_rs)],  p_rs = m_rs / N_rs,

with ``N_rs = n_r n_s`` (``n_r (n_r - 1) / 2`` for ``r = s``). The number of blocks is chosen by the integrated
classification likelihood of Daudin, Picard & Robin (2008):

    ICL(K) = L(b) + sum_r n_r log(n_r / n) - K (K + 1) / 4 log(n (n - 1) / 2) - (K - 1) / 2 log n.

For each K, k-means on the K leading adjacency eigenvectors (``restarts`` seeded runs) gives starting
partitions; each is refined by classification EM (:func:`_refine`) and the most likely one is kept.
This replaces graph-tool's ``minimize_blockmodel_dl`` used by SPECTRE (graph-tool is not on PyPI); on
SPECTRE-style SBM graphs both recover the planted blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.vq import kmeans2


@dataclass(frozen=True)
class BlockFit:
    """A partition (``labels``, contiguous 0..K-1), block sizes, the symmetric edge-count matrix ``edges``
    (``edges[r, s] = edges[s, r] = m_rs``; ``m_rr`` counts each inner edge once) and the criterion ``icl``."""

    labels: np.ndarray
    sizes: np.ndarray
    edges: np.ndarray
    icl: float

    @property
    def num_blocks(self) -> int:
        return len(self.sizes)

    def probabilities(self) -> np.ndarray:
        """Maximum-likelihood edge probabilities ``p_rs`` (NaN for a one-node block's inner pairs)."""
        pairs = np.outer(self.sizes, self.sizes).astype(float)
        np.fill_diagonal(pairs, self.sizes * (self.sizes - 1) / 2)
        return np.divide(self.edges, pairs, out=np.full(pairs.shape, np.nan), where=pairs > 0)


def _xlogx(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def _log_likelihood(edges: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """L for a stack of ordered edge-count matrices ``edges`` [..., K, K] (diagonal counted twice)."""
    pairs = sizes[..., :, None] * sizes[..., None, :]
    diag = np.arange(edges.shape[-1])
    pairs[..., diag, diag] = sizes * (sizes - 1)  # ordered pairs inside a block
    term = _xlogx(edges) + _xlogx(pairs - edges) - _xlogx(pairs)
    return term.sum((-1, -2)) / 2  # every unordered block pair appears twice


def _refine(adj: np.ndarray, labels: np.ndarray, k: int, max_steps: int = 50) -> np.ndarray:
    """Classification EM: with ``p_rs`` and block shares ``pi_s`` estimated from the current partition, move
    every node to the block maximising ``log pi_s + sum_r [e_vr log p_sr + (n_r - e_vr) log(1 - p_sr)]``
    (``e_vr`` = edges from ``v`` to block ``r``; ``v`` itself excluded from ``n_r``); repeat until stable."""
    for _ in range(max_steps):
        onehot = np.eye(k)[labels]
        sizes = onehot.sum(0)
        to_block = adj @ onehot
        pairs = np.outer(sizes, sizes) - np.diag(sizes)
        probs = np.clip(np.divide(onehot.T @ to_block, pairs, out=np.zeros((k, k)), where=pairs > 0), 1e-6, 1 - 1e-6)
        others = sizes[None, :] - onehot  # block sizes without v itself
        score = (np.log(np.maximum(sizes, 1e-12) / len(labels))[None, :] + to_block @ np.log(probs).T
                 + (others - to_block) @ np.log1p(-probs).T)
        new = score.argmax(1)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _fit_k(adj: np.ndarray, vectors: np.ndarray, k: int, seed: int, restarts: int) -> BlockFit:
    n = adj.shape[0]
    if k == 1:
        labels = np.zeros(n, dtype=int)
    else:
        rng = np.random.default_rng(seed)
        starts = [kmeans2(vectors[:, -k:], k, minit="++", seed=rng)[1] for _ in range(restarts)]
        labels = max((_refine(adj, start.astype(int), k) for start in starts),
                     key=lambda lab: _partition_likelihood(adj, lab))
    _, labels = np.unique(labels, return_inverse=True)
    onehot = np.eye(labels.max() + 1)[labels]
    ordered = onehot.T @ adj @ onehot
    sizes = onehot.sum(0)
    counts = ordered.copy()
    np.fill_diagonal(counts, np.diag(ordered) / 2)
    icl = (_log_likelihood(ordered, sizes) + float((sizes * np.log(sizes / n)).sum())
           - len(sizes) * (len(sizes) + 1) / 4 * np.log(n * (n - 1) / 2) - (len(sizes) - 1) / 2 * np.log(n))
    return BlockFit(labels=labels, sizes=sizes.astype(int), edges=counts, icl=float(icl))


def _partition_likelihood(adj: np.ndarray, labels: np.ndarray) -> float:
    onehot = np.eye(labels.max() + 1)[labels]
    return float(_log_likelihood(onehot.T @ adj @ onehot, onehot.sum(0)))


def fit_blockmodel(adj: np.ndarray, max_blocks: int = 6, seed: int = 0, restarts: int = 4) -> BlockFit:
    """Best-ICL SBM partition of the graph with 0/1 adjacency ``adj`` over K = 1..``max_blocks``."""
    vectors = np.linalg.eigh(adj)[1]
    fits = [_fit_k(adj, vectors, k, seed, restarts) for k in range(1, min(max_blocks, adj.shape[0]) + 1)]
    return max(fits, key=lambda f: f.icl)
