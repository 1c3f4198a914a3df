import itertools

import matplotlib.image as mpimg
import networkx as nx
import numpy as np
import pytest

from domains.graphs.plots import tutte_layout, write_graph_grid


def test_picture_is_written_atomically(tmp_path):
    path = write_graph_grid([nx.cycle_graph(5)] * 3, [nx.path_graph(4)] * 2, tmp_path / "grid.png", per_row=3)
    image = mpimg.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 300 and image[..., :3].std() > 0.01  # not blank
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]


def _segments_cross(p, q, r, s) -> bool:
    """Proper crossing of segments pq and rs (shared endpoints excluded by the caller)."""
    def orientation(a, b, c):
        return np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
    return (orientation(p, q, r) * orientation(p, q, s) < 0) and (orientation(r, s, p) * orientation(r, s, q) < 0)


@pytest.mark.parametrize("graph", [nx.icosahedral_graph(), nx.dodecahedral_graph(), nx.wheel_graph(9),
                                   nx.octahedral_graph()], ids=["icosahedron", "dodecahedron", "wheel", "octahedron"])
def test_tutte_layout_draws_3_connected_planar_graphs_without_crossings(graph):
    """Tutte's theorem, checked by brute force over all pairs of edges without a common node; every free node sits
    at the mean of its neighbours."""
    positions = tutte_layout(graph)
    edges = list(graph.edges())
    for (a, b), (c, d) in itertools.combinations(edges, 2):
        if len({a, b, c, d}) == 4:
            assert not _segments_cross(positions[a], positions[b], positions[c], positions[d])
    on_circle = [v for v in graph if abs(np.linalg.norm(positions[v]) - 1.0) < 1e-9]
    for v in set(graph) - set(on_circle):
        np.testing.assert_allclose(positions[v], np.mean([positions[u] for u in graph[v]], axis=0), atol=1e-9)
    assert len(on_circle) >= 3 and len(positions) == graph.number_of_nodes()


def test_tutte_layout_only_for_planar_2_connected_graphs():
    assert tutte_layout(nx.complete_graph(5)) is None  # not planar
    assert tutte_layout(nx.path_graph(5)) is None  # not 2-connected
    assert tutte_layout(nx.empty_graph(2)) is None
    square = tutte_layout(nx.cycle_graph(4))  # one face: every node on the circle
    assert all(abs(np.linalg.norm(p) - 1.0) < 1e-12 for p in square.values())
