"""Sliding-window blending with known answers, and the overlay picture writer."""

import matplotlib.image
import numpy as np
import pytest
import torch

from domains.medseg.inference import blend_weights, sliding_window, window_starts
from domains.medseg.pictures import pick_slice, write_overlay
from sciddm.errors import ConfigError

from .helpers import ball


def test_window_starts_cover_the_axis_and_end_flush():
    assert window_starts(10, 4, 0.5) == [0, 2, 4, 6]
    assert window_starts(11, 4, 0.5) == [0, 2, 4, 6, 7]
    assert window_starts(4, 4, 0.0) == [0]


@pytest.mark.parametrize("blend", ["gaussian", "constant"])
@pytest.mark.parametrize("size, patch", [((37, 20, 9), (16, 16, 16)), ((23, 31), (8, 8))])
def test_identity_model_reconstructs_the_volume(blend, size, patch):
    volume = torch.randn(2, 3, *size)
    calls = []

    def identity(batch):
        calls.append(batch.shape)
        return batch

    out = sliding_window(volume, patch, identity, overlap=0.5, blend=blend, batch_size=3)
    assert torch.allclose(out, volume, atol=1e-5)
    assert all(shape[2:] == patch for shape in calls)


def test_non_overlapping_windows_give_blockwise_results():
    volume = torch.arange(64.0).reshape(1, 1, 8, 8)
    window_max = lambda b: b.amax(dim=(2, 3), keepdim=True).expand_as(b)  # noqa: E731
    out = sliding_window(volume, (4, 4), window_max, overlap=0.0, blend="constant")
    assert out[0, 0, 0, 0] == 27.0 and out[0, 0, 7, 7] == 63.0 and out[0, 0, 0, 7] == 31.0


def test_overlapping_constant_blend_averages_window_outputs():
    volume = torch.zeros(1, 1, 6)
    counter = iter(range(100))

    def window_index(batch):  # window k predicts the constant k
        return torch.stack([torch.full_like(b, float(next(counter))) for b in batch])

    out = sliding_window(volume, (4,), window_index, overlap=0.5, blend="constant", batch_size=1)
    assert out[0, 0].tolist() == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0]  # windows start at 0 and 2


def test_gaussian_weights_peak_in_the_centre_and_stay_positive():
    weights = blend_weights((9, 9), "gaussian", 0.125)
    assert weights[4, 4] == weights.max() and weights.min() > 0
    with pytest.raises(ConfigError, match="unknown blend 'cosine'"):
        blend_weights((4,), "cosine", 0.1)
    with pytest.raises(ConfigError, match="overlap must be in"):
        sliding_window(torch.zeros(1, 1, 4), (2,), lambda b: b, overlap=1.0)


def test_overlay_png_is_written_for_the_slice_with_most_foreground(tmp_path):
    reference = ball((20, 20, 12), (10, 10, 7), 4).astype(int)
    prediction = np.roll(reference, 1, axis=0)
    image = np.random.default_rng(0).normal(size=(20, 20, 12)) + 2 * reference
    assert pick_slice(reference, 2, None) == 7
    index = write_overlay(tmp_path / "o.png", image, reference, prediction, np.abs(prediction - reference) * 1.0)
    assert index == 7
    four = matplotlib.image.imread(tmp_path / "o.png")
    write_overlay(tmp_path / "three.png", image, reference, prediction, slice_index=3)
    three = matplotlib.image.imread(tmp_path / "three.png")
    assert four.shape[1] > three.shape[1] and four.shape[0] == three.shape[0]  # one more panel, same height


def test_overlay_shape_mismatch_writes_nothing(tmp_path):
    with pytest.raises(ConfigError, match="must share one 2D or 3D shape"):
        write_overlay(tmp_path / "bad.png", np.zeros((5, 5)), np.zeros((5, 5), int), np.zeros((5, 6), int))
    assert list(tmp_path.iterdir()) == []
