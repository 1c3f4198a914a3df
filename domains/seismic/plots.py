"""Pictures of a reconstruction: inline, crossline and time slices of observed, reconstructed, true, difference.

Rows are an inline section (crossline across, time down), a crossline section (inline across, time down) and a
time slice (crossline across, inline down); columns are observed, reconstructed, true and reconstructed - true.
All panels share one symmetric grey scale clipped at the 99th percentile of |true|, so the difference panel
reads directly as error amplitude relative to the data. By default the inline and crossline shown are those
with the most missing traces (the middle ones without a mask) and the time slice is the middle one.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sciddm.errors import ConfigError  # noqa: E402
from sciddm.io import atomic_path  # noqa: E402

COLUMNS = ("observed", "reconstructed", "true", "difference")
ROWS = ("inline", "crossline", "time")


def default_slices(shape: tuple[int, int, int], mask: np.ndarray | None = None) -> tuple[int, int, int]:
    """(inline, crossline, sample) indices: most missing traces per line (first on ties), middle sample."""
    if mask is None:
        return shape[0] // 2, shape[1] // 2, shape[2] // 2
    missing = ~np.asarray(mask, dtype=bool)
    if missing.ndim == 3:
        missing = missing.any(axis=2)
    return int(np.argmax(missing.sum(axis=1))), int(np.argmax(missing.sum(axis=0))), shape[2] // 2


def slice_panels(volumes: dict[str, np.ndarray], inline: int, crossline: int, sample: int
                 ) -> dict[tuple[str, str], np.ndarray]:
    """The 2D image of each (row, column): sections with time down, the time slice with inlines down."""
    panels = {}
    for column, volume in volumes.items():
        panels["inline", column] = volume[inline].T
        panels["crossline", column] = volume[:, crossline].T
        panels["time", column] = volume[:, :, sample]
    return panels


def plot_reconstruction(
    path: str | Path,
    true: np.ndarray,
    observed: np.ndarray,
    reconstructed: np.ndarray,
    mask: np.ndarray | None = None,
    slices: tuple[int, int, int] | None = None,
) -> tuple[int, int, int]:
    """Write the 3 x 4 panel figure to ``path`` (PNG, atomically); returns the slice indices shown."""
    if not true.shape == observed.shape == reconstructed.shape:
        raise ConfigError(f"volumes to plot differ in shape: {true.shape}, {observed.shape}, {reconstructed.shape}")
    slices = slices or default_slices(true.shape, mask)
    if not all(0 <= index < size for index, size in zip(slices, true.shape, strict=True)):
        raise ConfigError(f"slice indices {slices} outside the volume {true.shape}")
    volumes = dict(zip(COLUMNS, (observed, reconstructed, true, reconstructed - true), strict=True))
    panels = slice_panels(volumes, *slices)
    clip = float(np.percentile(np.abs(true), 99)) or 1.0
    figure, axes = plt.subplots(len(ROWS), len(COLUMNS), figsize=(3.2 * len(COLUMNS), 3.0 * len(ROWS)),
                                squeeze=False)
    labels = {"inline": f"inline {slices[0]}", "crossline": f"crossline {slices[1]}", "time": f"sample {slices[2]}"}
    for r, row in enumerate(ROWS):
        for c, column in enumerate(COLUMNS):
            axis = axes[r, c]
            axis.imshow(panels[row, column], cmap="gray", vmin=-clip, vmax=clip, aspect="auto",
                        interpolation="nearest")
            axis.set_title(f"{column}, {labels[row]}", fontsize=9)
            axis.set_xticks([])
            axis.set_yticks([])
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=100, format="png")
    plt.close(figure)
    return slices
