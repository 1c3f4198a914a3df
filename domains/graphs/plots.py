"""Pictures of generated graphs beside reference graphs (matplotlib, Agg backend, atomic write).

Layouts: planar 2-connected graphs are drawn with Tutte's barycentric embedding (Tutte 1963): the longest face of
a planar embedding is pinned to a circle and every other node sits at the mean of its neighbours,
:math:`\\deg(v)\\,x_v = \\sum_{u \\sim v} x_u`, one sparse linear solve. For 3-connected planar graphs (e.g. Delaunay
triangulations) this is a drawing without crossings, so planarity can be seen. Other graphs get a seeded spring
layout.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import networkx as nx
import numpy as np

from sciddm.plotting import save_figure


def longest_face(embedding: nx.PlanarEmbedding) -> list:
    """The nodes of the longest face of a planar embedding, in order around the face."""
    visited: set = set()
    longest: list = []
    for v, w in embedding.edges():
        if (v, w) not in visited:
            face = embedding.traverse_face(v, w, mark_half_edges=visited)
            longest = face if len(face) > len(longest) else longest
    return longest


def tutte_layout(graph: nx.Graph) -> dict | None:
    """Tutte's barycentric positions (module docstring), or None unless ``graph`` is planar, 2-connected and has at
    least 3 nodes (then every face is a cycle, so the pinned outer face is a simple polygon)."""
    if graph.number_of_nodes() < 3 or not nx.is_biconnected(graph):
        return None
    planar, embedding = nx.check_planarity(graph)
    if not planar:
        return None
    outer = longest_face(embedding)
    angles = 2 * np.pi * np.arange(len(outer)) / len(outer)
    pinned = {v: np.array([np.cos(a), np.sin(a)]) for v, a in zip(outer, angles, strict=True)}
    free = [v for v in graph.nodes() if v not in pinned]
    index = {v: i for i, v in enumerate(free)}
    system = np.zeros((len(free), len(free)))
    right = np.zeros((len(free), 2))
    for v in free:
        system[index[v], index[v]] = graph.degree(v)
        for u in graph.neighbors(v):
            if u in pinned:
                right[index[v]] += pinned[u]
            else:
                system[index[v], index[u]] -= 1.0
    solved = np.linalg.solve(system, right) if free else right
    return pinned | {v: solved[index[v]] for v in free}


def write_graph_grid(samples: list[nx.Graph], reference: list[nx.Graph], path: str | Path, per_row: int = 6,
                     seed: int = 0) -> Path:
    """PNG with up to ``per_row`` reference graphs (top row) and generated graphs (bottom row).

    Planar 2-connected graphs are drawn with :func:`tutte_layout`, others with a spring layout of fixed ``seed``;
    node colours show node types. Returns the path.
    """
    rows = [("reference", reference[:per_row]), ("generated", samples[:per_row])]
    fig, axes = plt.subplots(2, per_row, figsize=(2.2 * per_row, 4.6), squeeze=False)
    for r, (title, graphs) in enumerate(rows):
        for c, ax in enumerate(axes[r]):
            ax.set_axis_off()
            if c >= len(graphs):
                continue
            graph = graphs[c]
            colours = [graph.nodes[v].get("type", 0) for v in graph.nodes()]
            positions = tutte_layout(graph) or nx.spring_layout(graph, seed=seed)
            nx.draw_networkx(graph, pos=positions, ax=ax, node_size=18, with_labels=False,
                             node_color=colours, cmap="tab10", vmin=0, vmax=9, width=0.6)
            ax.set_title(f"{title} {c}: n={graph.number_of_nodes()}, m={graph.number_of_edges()}", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
