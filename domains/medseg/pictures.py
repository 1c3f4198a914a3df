"""Overlay pictures: image, reference contours, predicted contours and the uncertainty map, side by side.

For a 3D volume one slice along ``axis`` is drawn: ``slice_index``, or by default the slice with the most
reference foreground. Arrays are drawn with the first in-plane axis vertical (``imshow`` of the slice as
stored, transposed so that for RAS-ordered NIfTI data the second axis runs left-right). Contours are drawn per
non-zero class at the 0.5 level of the class indicator: reference in green shades (dotted under the prediction),
prediction in red shades.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sciddm.errors import ConfigError  # noqa: E402
from sciddm.io import atomic_path  # noqa: E402

REFERENCE_COLOURS = ("tab:green", "tab:cyan", "tab:olive", "tab:purple")
PREDICTION_COLOURS = ("tab:red", "tab:orange", "tab:pink", "gold")


def pick_slice(reference: np.ndarray, axis: int, slice_index: int | None) -> int:
    """``slice_index`` or the slice along ``axis`` with the most non-zero reference voxels."""
    if slice_index is not None:
        return slice_index
    other = tuple(a for a in range(reference.ndim) if a != axis)
    return int(np.argmax(np.count_nonzero(reference, axis=other)))


def draw_contours(ax, labels: np.ndarray, colours: tuple[str, ...], style: str) -> None:
    """Outline each non-zero class ``c`` of a 2D label map in ``colours[c - 1]`` (cycled)."""
    for c in sorted(set(np.unique(labels).tolist()) - {0}):
        ax.contour((labels == c).T.astype(float), levels=[0.5], colors=colours[(c - 1) % len(colours)],
                   linewidths=1.0, linestyles=style)


def write_overlay(path: str | Path, image: np.ndarray, reference: np.ndarray, prediction: np.ndarray,
                  uncertainty: np.ndarray | None = None, axis: int = 2, slice_index: int | None = None,
                  title: str | None = None) -> int:
    """Write a PNG with panels image | reference | prediction (| uncertainty); returns the slice drawn (0 in 2D).

    All arrays share one spatial shape, 2D or 3D (the image's first channel if it has a leading channel axis).
    """
    image = np.asarray(image)
    if image.ndim == reference.ndim + 1:
        image = image[0]
    arrays = [image, reference, prediction] + ([] if uncertainty is None else [uncertainty])
    if len({a.shape for a in arrays}) != 1 or image.ndim not in (2, 3):
        raise ConfigError(f"overlay arrays must share one 2D or 3D shape, got {[a.shape for a in arrays]}")
    index = 0
    if image.ndim == 3:
        index = pick_slice(reference, axis, slice_index)
        arrays = [np.take(a, index, axis=axis) for a in arrays]
    panels = ["image", "reference", "prediction"] + ([] if uncertainty is None else ["uncertainty"])
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4), squeeze=False)
    for ax, name in zip(axes[0], panels, strict=True):
        ax.imshow(arrays[0].T, cmap="gray", origin="lower")
        ax.set_title(name)
        ax.axis("off")
    draw_contours(axes[0][1], arrays[1], REFERENCE_COLOURS, "solid")
    draw_contours(axes[0][2], arrays[1], REFERENCE_COLOURS, "dotted")
    draw_contours(axes[0][2], arrays[2], PREDICTION_COLOURS, "solid")
    if uncertainty is not None:
        shown = axes[0][3].imshow(arrays[3].T, cmap="magma", origin="lower", vmin=0.0, vmax=1.0)
        fig.colorbar(shown, ax=axes[0][3], fraction=0.046)
    if title:
        fig.suptitle(f"{title} (slice {index} along axis {axis})" if image.ndim == 3 else title)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
    return index
