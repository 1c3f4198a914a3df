"""Graph-set distances: squared maximum mean discrepancy (MMD^2) of per-graph statistics.

For two sets of per-graph descriptors ``X = {x_i}`` and ``Y = {y_j}`` and a kernel ``k``,

    MMD^2(X, Y) = mean_{i,i'} k(x_i, x_i') + mean_{j,j'} k(y_j, y_j') - 2 mean_{i,j} k(x_i, y_j)

(the biased V-statistic with diagonal terms, as in GraphRNN, You et al. 2018, and every paper that reuses its
code, so MMD^2(X, X) = 0 exactly). Descriptors:

* degree: ``nx.degree_histogram`` (counts of degree 0, 1, ...), normalised to sum 1;
* clustering: histogram of the local clustering coefficients in 100 bins on [0, 1], normalised;
* orbit: the mean over nodes of the 15 orbit counts (:mod:`domains.graphs.orbits`), not normalised;
* spectral: histogram of the normalised-Laplacian eigenvalues in 200 bins on [-1e-5, 2], normalised.

Kernels, with ``D`` a distance between descriptors and ``k = exp(-D^2 / (2 sigma^2))``:

* Gaussian-EMD: ``D`` = earth mover's distance between histograms with ground distance ``|i - j| / scaling``;
  in 1-D this is ``sum_i |CDF_x(i) - CDF_y(i)| / scaling`` (histograms zero-padded to a common length);
* Gaussian-TV: ``D = sum_i |x_i - y_i| / 2`` (total variation for normalised histograms);
* Gaussian (L2): ``D = ||x - y||_2``.

Protocols (sigma and kernel per statistic):

=========  ==========================================  ==========================================
statistic  ``emd`` (GraphRNN / GDSS, Jo et al. 2022)     ``tv`` (GRAN / SPECTRE / DiGress / DeFoG)
=========  ==========================================  ==========================================
degree     Gaussian-EMD, sigma 1                        Gaussian-TV, sigma 1
clustering Gaussian-EMD, sigma 0.1, scaling 100         Gaussian-TV, sigma 0.1
orbit      Gaussian (L2), sigma 30                      Gaussian-TV, sigma 30
spectral   Gaussian-EMD, sigma 1                        Gaussian-TV, sigma 1
=========  ==========================================  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from domains.graphs.orbits import orbit_counts


def degree_histogram(graph: nx.Graph) -> np.ndarray:
    return np.asarray(nx.degree_histogram(graph), dtype=float)


def clustering_histogram(graph: nx.Graph, bins: int = 100) -> np.ndarray:
    values = list(nx.clustering(graph).values())
    return np.histogram(values, bins=bins, range=(0.0, 1.0))[0].astype(float)


def orbit_mean(graph: nx.Graph) -> np.ndarray:
    counts = orbit_counts(graph)
    return counts.mean(0) if len(counts) else np.zeros(counts.shape[1])


def spectral_histogram(graph: nx.Graph, bins: int = 200) -> np.ndarray:
    if graph.number_of_nodes() == 0:
        return np.zeros(bins)
    laplacian = nx.normalized_laplacian_matrix(graph, nodelist=sorted(graph.nodes())).toarray()
    eigenvalues = np.linalg.eigvalsh(laplacian)
    return np.histogram(eigenvalues, bins=bins, range=(-1e-5, 2.0))[0].astype(float)


def _pad(rows: list[np.ndarray], length: int) -> np.ndarray:
    out = np.zeros((len(rows), length))
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def _normalise(rows: np.ndarray) -> np.ndarray:
    total = rows.sum(1, keepdims=True)
    return np.divide(rows, total, out=np.zeros_like(rows), where=total > 0)


def emd_distance(x: np.ndarray, y: np.ndarray, scaling: float = 1.0) -> np.ndarray:
    """[len(x), len(y)] 1-D earth mover's distances between rows of (padded, normalised) histograms."""
    cx, cy = np.cumsum(x, axis=1), np.cumsum(y, axis=1)
    return np.abs(cx[:, None, :] - cy[None, :, :]).sum(-1) / scaling


def tv_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(x[:, None, :] - y[None, :, :]).sum(-1) / 2


def l2_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))


@dataclass(frozen=True)
class Statistic:
    """A per-graph descriptor, whether it is a histogram (normalised before the kernel), and per-protocol
    kernels ``(distance, sigma)``."""

    describe: Callable[[nx.Graph], np.ndarray]
    is_histogram: bool
    kernels: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray], float]]


STATISTICS: dict[str, Statistic] = {
    "degree": Statistic(degree_histogram, True, {"emd": (emd_distance, 1.0), "tv": (tv_distance, 1.0)}),
    "clustering": Statistic(clustering_histogram, True, {
        "emd": (lambda x, y: emd_distance(x, y, scaling=100.0), 0.1), "tv": (tv_distance, 0.1)}),
    "orbit": Statistic(orbit_mean, False, {"emd": (l2_distance, 30.0), "tv": (tv_distance, 30.0)}),
    "spectral": Statistic(spectral_histogram, True, {"emd": (emd_distance, 1.0), "tv": (tv_distance, 1.0)}),
}
PROTOCOLS = ("emd", "tv")
BLOCK_ELEMENTS = 4_000_000


def describe(graphs: list[nx.Graph], statistic: str) -> list[np.ndarray]:
    """Descriptor of each graph for ``statistic`` (cache these when comparing one set with several)."""
    return [STATISTICS[statistic].describe(g) for g in graphs]


def mmd2_from_descriptors(x: list[np.ndarray], y: list[np.ndarray], statistic: str, protocol: str) -> float:
    """MMD^2 between two descriptor lists under ``protocol``'s kernel and sigma for ``statistic``."""
    stat = STATISTICS[statistic]
    length = max(len(v) for v in x + y)
    a, b = _pad(x, length), _pad(y, length)
    if stat.is_histogram:
        a, b = _normalise(a), _normalise(b)
    distance, sigma = stat.kernels[protocol]

    def mean_kernel(p: np.ndarray, q: np.ndarray) -> float:
        # rows of p in blocks, so the [rows, len(q), length] temporaries stay near 32 MB for large sets
        block = max(1, BLOCK_ELEMENTS // max(len(q) * length, 1))
        total = sum(float(np.exp(-distance(p[i:i + block], q) ** 2 / (2 * sigma**2)).sum())
                    for i in range(0, len(p), block))
        return total / (len(p) * len(q))

    return mean_kernel(a, a) + mean_kernel(b, b) - 2 * mean_kernel(a, b)


def mmd2(graphs_x: list[nx.Graph], graphs_y: list[nx.Graph], statistic: str, protocol: str) -> float:
    """MMD^2 of ``statistic`` between two graph sets (see the module docstring)."""
    return mmd2_from_descriptors(describe(graphs_x, statistic), describe(graphs_y, statistic), statistic, protocol)
