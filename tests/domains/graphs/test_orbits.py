import itertools

import networkx as nx
import numpy as np
import pytest

from domains.graphs.orbits import containment_matrix, orbit_counts


def _row(**orbits: int) -> list[int]:
    row = [0] * 15
    for key, value in orbits.items():
        row[int(key[1:])] = value
    return row


# hand-counted orbit vectors of every node of small graphs (orbit numbers in orbits.py)
HAND_COUNTED = {
    "K4": (nx.complete_graph(4), [_row(o0=3, o3=3, o14=1)] * 4),
    "P4": (nx.path_graph(4), [_row(o0=1, o1=1, o4=1), _row(o0=2, o1=1, o2=1, o5=1),
                              _row(o0=2, o1=1, o2=1, o5=1), _row(o0=1, o1=1, o4=1)]),
    "star": (nx.star_graph(3), [_row(o0=3, o2=3, o7=1)] + [_row(o0=1, o1=2, o6=1)] * 3),
    "C4": (nx.cycle_graph(4), [_row(o0=2, o1=2, o2=1, o8=1)] * 4),
    # paw: triangle 0-1-2, tail 2-3
    "paw": (nx.Graph([(0, 1), (1, 2), (0, 2), (2, 3)]),
            [_row(o0=2, o1=1, o3=1, o10=1), _row(o0=2, o1=1, o3=1, o10=1),
             _row(o0=3, o2=2, o3=1, o11=1), _row(o0=1, o1=2, o9=1)]),
    # diamond: 4-cycle 0-1-2-3 with chord 0-2
    "diamond": (nx.Graph([(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]),
                [_row(o0=3, o2=1, o3=2, o13=1), _row(o0=2, o1=2, o3=1, o12=1),
                 _row(o0=3, o2=1, o3=2, o13=1), _row(o0=2, o1=2, o3=1, o12=1)]),
    # 5-path 0-1-2-3-4: centre node 2 is inner in two 4-paths, end of none
    "P5": (nx.path_graph(5), [_row(o0=1, o1=1, o4=1), _row(o0=2, o1=1, o2=1, o4=1, o5=1),
                              _row(o0=2, o1=2, o2=1, o5=2), _row(o0=2, o1=1, o2=1, o4=1, o5=1),
                              _row(o0=1, o1=1, o4=1)]),
}


@pytest.mark.parametrize("name", sorted(HAND_COUNTED))
def test_orbits_of_hand_counted_graphs(name):
    graph, expected = HAND_COUNTED[name]
    assert orbit_counts(graph).tolist() == expected


def _brute_force(graph: nx.Graph) -> np.ndarray:
    """Enumerate every connected induced subgraph on 2-4 nodes; orbit from the sorted degree sequence."""
    four = {(1, 1, 2, 2): {1: 4, 2: 5}, (1, 1, 1, 3): {1: 6, 3: 7}, (2, 2, 2, 2): {2: 8},
            (1, 2, 2, 3): {1: 9, 2: 10, 3: 11}, (2, 2, 3, 3): {2: 12, 3: 13}, (3, 3, 3, 3): {3: 14}}
    three = {(1, 1, 2): {1: 1, 2: 2}, (2, 2, 2): {2: 3}}
    out = np.zeros((len(graph), 15), dtype=int)
    for size, table in ((2, {(1, 1): {1: 0}}), (3, three), (4, four)):
        for nodes in itertools.combinations(graph.nodes(), size):
            sub = graph.subgraph(nodes)
            if nx.is_connected(sub):
                degrees = dict(sub.degree())
                for v in nodes:
                    out[v, table[tuple(sorted(degrees.values()))][degrees[v]]] += 1
    return out


@pytest.mark.parametrize("seed", range(6))
def test_orbits_match_brute_force_on_random_graphs(seed):
    graph = nx.gnp_random_graph(11, 0.2 + 0.1 * seed, seed=seed)
    assert (orbit_counts(graph) == _brute_force(graph)).all()


def test_containment_matrix_is_unit_upper_triangular():
    m = containment_matrix()
    assert np.allclose(np.diag(m), 1) and np.allclose(np.tril(m, -1), 0)
    # Hamiltonian paths from x: 4 from a degree-2 node of a diamond (1-0-2-3, 1-0-3-2, 1-2-0-3, 1-2-3-0),
    # 3! = 6 from a node of a 4-clique
    assert m[4 - 4, 12 - 4] == 4 and m[4 - 4, 14 - 4] == 6
