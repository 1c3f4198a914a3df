r"""Test-time averaging of a reconstruction over the symmetries of the trace grid.

A map :math:`g` of the (inline, crossline) grid (flip of the inline axis, flip of the crossline axis, and on
request the transpose that swaps the two axes) acts on a volume ``[n_inlines, n_crosslines, n_samples]`` and on
its trace mask alike, leaving the time axis alone. When the data's distribution does not change under these maps
(the synthetic generator draws fault strikes and fold centres uniformly; a real survey with equal inline and
crossline spacing comes close), every :math:`g^{-1} R(g v, g m)` is an equally good reconstruction, and their
average

.. math:: \bar R(v, m) = \frac{1}{|G|} \sum_{g \in G} g^{-1} R(g\,v, g\,m)

has a squared error no larger than their mean squared error (the error of a mean is at most the mean of the
errors, by convexity), and smaller whenever the members' errors differ. :math:`G` is the group of the two flips
(4 maps) or, with the transpose, the dihedral group of the square (8 maps; it needs a square grid only for the
model's sake: the maps themselves work on any grid). A reconstruction that commutes with every map
(:math:`R(g v, g m) = g R(v, m)`) is returned unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sciddm.errors import choose

Reconstructor = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class GridSymmetry:
    """:math:`g`: flip the inline axis, then the crossline axis, then swap the two (each when set)."""

    flip_inline: bool
    flip_crossline: bool
    transpose: bool

    def apply(self, array: np.ndarray) -> np.ndarray:
        """:math:`g\\,a` for an array whose first two axes are (inline, crossline)."""
        if self.flip_inline:
            array = array[::-1]
        if self.flip_crossline:
            array = array[:, ::-1]
        if self.transpose:
            array = array.swapaxes(0, 1)
        return np.ascontiguousarray(array)

    def invert(self, array: np.ndarray) -> np.ndarray:
        """:math:`g^{-1} a`: the three steps of :meth:`apply` undone in reverse order."""
        if self.transpose:
            array = array.swapaxes(0, 1)
        if self.flip_crossline:
            array = array[:, ::-1]
        if self.flip_inline:
            array = array[::-1]
        return np.ascontiguousarray(array)


SYMMETRY_COUNTS = {1: None, 4: False, 8: True}  # number of maps -> with the transposes (None: the identity only)


def symmetry_maps(count: int) -> list[GridSymmetry]:
    """The identity (``count`` 1), the 4 flips (4) or the 8 maps of the dihedral group (8); other counts are a
    :class:`ConfigError`."""
    transpose = choose(count, SYMMETRY_COUNTS, "number of grid symmetries")
    return grid_symmetries(transpose=bool(transpose))[:1 if transpose is None else None]


def grid_symmetries(transpose: bool = True) -> list[GridSymmetry]:
    """The 4 flips of the grid, or with ``transpose`` the 8 maps of the dihedral group of the square."""
    swaps = (False, True) if transpose else (False,)
    return [GridSymmetry(flip_inline, flip_crossline, swap)
            for swap in swaps for flip_inline in (False, True) for flip_crossline in (False, True)]


def symmetry_average(reconstruct: Reconstructor, volume: np.ndarray, mask: np.ndarray,
                     transpose: bool = True) -> np.ndarray:
    """:math:`\\bar R(v, m)`: the mean of ``reconstruct`` run on every transformed (volume, mask), mapped back.

    ``mask`` is a trace mask ``[n_inlines, n_crosslines]`` or a full mask of the volume's shape; ``reconstruct``
    is called ``len(grid_symmetries(transpose))`` times.
    """
    if mask.shape[:2] != volume.shape[:2]:
        raise ValueError(f"mask grid {mask.shape[:2]} differs from the volume's {volume.shape[:2]}")
    members = [g.invert(reconstruct(g.apply(volume), g.apply(mask))) for g in grid_symmetries(transpose)]
    return np.mean(members, axis=0, dtype=np.float64).astype(members[0].dtype)
