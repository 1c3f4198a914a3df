"""Pictures of generated graphs beside reference graphs (matplotlib, Agg backend, atomic write)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import networkx as nx

from sciddm.plotting import save_figure


def write_graph_grid(samples: list[nx.Graph], reference: list[nx.Graph], path: str | Path, per_row: int = 6,
                     seed: int = 0) -> Path:
    """PNG with up to ``per_row`` reference graphs (top row) and generated graphs (bottom row).

    Layouts are spring layouts with a fixed ``seed``; node colours show node types. Returns the path.
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
            nx.draw_networkx(graph, pos=nx.spring_layout(graph, seed=seed), ax=ax, node_size=18, with_labels=False,
                             node_color=colours, cmap="tab10", vmin=0, vmax=9, width=0.6)
            ax.set_title(f"{title} {c}: n={graph.number_of_nodes()}, m={graph.number_of_edges()}", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)
