import networkx as nx
import numpy as np
import pytest
from scipy.stats import wasserstein_distance

from domains.graphs import generators
from domains.graphs.mmd import PROTOCOLS, STATISTICS, emd_distance, mmd2, mmd2_from_descriptors


@pytest.mark.parametrize("statistic", sorted(STATISTICS))
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_set_against_itself_is_zero(statistic, protocol):
    graphs = generators.community_small(num_graphs=8, seed=1)
    assert mmd2(graphs, graphs, statistic, protocol) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("statistic", sorted(STATISTICS))
def test_different_generators_are_far_apart_and_same_generator_close(statistic):
    planar_a = generators.planar(num_graphs=12, seed=1)
    planar_b = generators.planar(num_graphs=12, seed=2)
    er = generators.erdos_renyi([64] * 12, p=0.09, seed=3)  # same density as planar, no geometry
    for protocol in PROTOCOLS:
        near = mmd2(planar_a, planar_b, statistic, protocol)
        far = mmd2(planar_a, er, statistic, protocol)
        assert far > 3 * near, (protocol, near, far)


def test_emd_is_the_1d_wasserstein_distance():
    rng = np.random.default_rng(0)
    x, y = rng.random((3, 7)), rng.random((4, 7))
    x, y = x / x.sum(1, keepdims=True), y / y.sum(1, keepdims=True)
    support = np.arange(7)
    expected = [[wasserstein_distance(support, support, a, b) for b in y] for a in x]
    assert np.allclose(emd_distance(x, y), expected)
    assert np.allclose(emd_distance(x, y, scaling=100.0), np.array(expected) / 100)


def test_closed_form_for_two_single_graph_sets():
    # degree histograms: path P3 -> [0, 2, 1] / 3, star K1,3 -> [0, 3, 0, 1] / 4
    p, s = nx.path_graph(3), nx.star_graph(3)
    tv = 0.5 * (abs(2 / 3 - 3 / 4) + abs(1 / 3 - 0) + abs(0 - 1 / 4))
    assert mmd2([p], [s], "degree", "tv") == pytest.approx(2 - 2 * np.exp(-tv**2 / 2))
    emd = abs(2 / 3 - 3 / 4) + abs(1 - 3 / 4) + 0  # |CDF differences| at degrees 1, 2, 3
    assert mmd2([p], [s], "degree", "emd") == pytest.approx(2 - 2 * np.exp(-emd**2 / 2))


def test_orbit_statistic_is_not_normalised():
    # mean orbit vectors: K3 -> degree 2, one triangle (no induced 3-path); single edge -> degree 1
    d2 = (2 - 1) ** 2 + 1
    value = mmd2_from_descriptors([np.array([2.0, 0, 0, 1] + [0] * 11)], [np.array([1.0] + [0] * 14)], "orbit", "emd")
    assert value == pytest.approx(2 - 2 * np.exp(-d2 / (2 * 30.0**2)))
    assert mmd2([nx.complete_graph(3)], [nx.path_graph(2)], "orbit", "emd") == pytest.approx(value)
