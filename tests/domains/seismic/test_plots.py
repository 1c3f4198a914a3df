from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from domains.seismic.plots import default_slices, plot_reconstruction, slice_panels
from sciddm.errors import ConfigError


def test_default_slices_show_the_lines_with_most_missing_traces():
    mask = np.ones((5, 6), bool)
    mask[2, 1:4] = False
    mask[0, 3] = False
    assert default_slices((5, 6, 9), mask) == (2, 3, 4)
    assert default_slices((5, 6, 9)) == (2, 3, 4)


def test_slice_panels_are_the_requested_sections():
    volume = np.arange(4 * 5 * 6.0).reshape(4, 5, 6)
    panels = slice_panels({"true": volume}, 1, 2, 3)
    np.testing.assert_array_equal(panels["inline", "true"], volume[1].T)
    np.testing.assert_array_equal(panels["crossline", "true"], volume[:, 2].T)
    np.testing.assert_array_equal(panels["time", "true"], volume[:, :, 3])


def test_plot_writes_one_png_and_nothing_else(tmp_path: Path):
    truth = np.random.default_rng(0).normal(size=(6, 7, 10))
    mask = np.ones((6, 7), bool)
    mask[:, 3] = False
    shown = plot_reconstruction(tmp_path / "slices.png", truth, truth * mask[..., None], 0.9 * truth, mask)
    assert shown == (0, 3, 5)
    assert [p.name for p in tmp_path.iterdir()] == ["slices.png"]
    image = matplotlib.image.imread(tmp_path / "slices.png")
    assert image.shape[:2] == (900, 1280)
    with pytest.raises(ConfigError, match="outside the volume"):
        plot_reconstruction(tmp_path / "bad.png", truth, truth, truth, slices=(0, 9, 0))
