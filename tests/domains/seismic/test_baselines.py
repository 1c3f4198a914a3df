import numpy as np
import pytest

from domains.seismic.baselines import linear_interpolation, pocs_interpolation, pocs_thresholds
from domains.seismic.masks import contiguous_gap, random_traces, volume_mask
from domains.seismic.metrics import snr_db
from sciddm.errors import ConfigError

N = 16
I, J, T = np.meshgrid(np.arange(N), np.arange(N), np.arange(N), indexing="ij")


def plane_waves() -> np.ndarray:
    """Two plane waves periodic on the grid: exactly four non-zero 3D Fourier coefficients."""
    return np.cos(2 * np.pi * (2 * I + J + 3 * T) / N) + 0.5 * np.cos(2 * np.pi * (-I + 3 * J + 5 * T) / N + 0.3)


def test_linear_interpolation_is_exact_for_a_linear_field_inside_the_live_hull():
    field = 2.0 * I + 3.0 * J - T + 0.5
    mask = random_traces((N, N), 0.5, seed=0)
    mask[[0, -1], :] = mask[:, [0, -1]] = True  # live border: every missing trace is inside the hull
    filled = linear_interpolation(field * mask[..., None], mask)
    np.testing.assert_allclose(filled, field, atol=1e-9)


def test_linear_interpolation_across_a_gap_is_the_straight_line_between_its_edges():
    values = np.arange(6.0)[None, :, None] ** 2 * np.ones((3, 6, 2))  # trace value j^2 along crosslines
    mask = contiguous_gap((3, 6), width=2, start=2)
    filled = linear_interpolation(values * mask[..., None], mask)
    # crosslines 2 and 3 lie between live crosslines 1 (value 1) and 4 (value 16)
    np.testing.assert_allclose(filled[:, 2], 6.0)
    np.testing.assert_allclose(filled[:, 3], 11.0)
    np.testing.assert_array_equal(filled[mask], values[mask])


def test_linear_interpolation_outside_the_hull_and_on_one_line_uses_the_nearest_trace():
    values = np.arange(8.0).reshape(2, 4, 1) * np.ones((2, 4, 3))
    mask = np.zeros((2, 4), bool)
    mask[0] = True  # one live inline: collinear, no triangulation
    filled = linear_interpolation(values * mask[..., None], mask)
    np.testing.assert_array_equal(filled[1], values[0])
    with pytest.raises(ConfigError, match="without any live trace"):
        linear_interpolation(values, np.zeros((2, 4), bool))


def test_pocs_recovers_sparse_plane_waves_and_keeps_observed_traces():
    truth = plane_waves()
    mask = random_traces((N, N), 0.5, seed=1)
    observed = truth * mask[..., None]
    pocs = pocs_interpolation(observed, mask, n_iterations=50)
    missing = ~volume_mask(mask, truth.shape)
    assert snr_db(pocs, truth, missing) > 60
    assert snr_db(pocs, truth, missing) > snr_db(linear_interpolation(observed, mask), truth, missing) + 30
    np.testing.assert_array_equal(pocs[~missing], observed[~missing])


def test_pocs_thresholds_decay_exponentially_between_the_two_fractions():
    thresholds = pocs_thresholds(200.0, 5, max_fraction=0.9, min_fraction=0.009)
    np.testing.assert_allclose(thresholds, [180.0, 180.0 * 0.01**0.25, 18.0, 180.0 * 0.01**0.75, 1.8])
    with pytest.raises(ConfigError, match="n_iterations >= 1"):
        pocs_thresholds(1.0, 0)
