"""Pictures of point clouds: a grid of 3D scatter plots, written atomically as PNG (matplotlib, Agg backend)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sciddm.io import atomic_path  # noqa: E402


def plot_cloud_grid(
    clouds: np.ndarray | Sequence[np.ndarray],
    path: str | Path,
    titles: list[str] | None = None,
    columns: int = 4,
    point_size: float = 1.0,
    elevation: float = 20.0,
    azimuth: float = -60.0,
) -> Path:
    """Draw ``clouds`` ([M, N, 3], or M clouds [N_i, 3] of any sizes) as a grid of 3D scatter plots (z up, equal
    axes per cloud), save to ``path``.

    Points are coloured by height so depth reads without shading. Returns ``path``.
    """
    clouds = [np.asarray(cloud) for cloud in clouds]
    rows = -(-len(clouds) // columns)
    figure = plt.figure(figsize=(3 * columns, 3 * rows))
    for index, cloud in enumerate(clouds):
        axes = figure.add_subplot(rows, columns, index + 1, projection="3d")
        axes.scatter(*cloud.T, s=point_size, c=cloud[:, 2], cmap="viridis", linewidths=0)
        centre = (cloud.max(axis=0) + cloud.min(axis=0)) / 2
        half = (cloud.max(axis=0) - cloud.min(axis=0)).max() / 2 or 1.0
        axes.set(xlim=(centre[0] - half, centre[0] + half), ylim=(centre[1] - half, centre[1] + half),
                 zlim=(centre[2] - half, centre[2] + half))  # fmt: skip
        axes.set_box_aspect((1, 1, 1))
        axes.view_init(elev=elevation, azim=azimuth)
        axes.set_axis_off()
        if titles is not None:
            axes.set_title(titles[index], fontsize=9)
    figure.tight_layout()
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
    return path
