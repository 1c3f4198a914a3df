import math

import numpy as np
import pytest

from domains.seismic.synthetic import (
    Fault,
    Fold,
    Geology,
    SyntheticConfig,
    render,
    ricker,
    synthetic_volume,
    wavelet_half_length,
)
from sciddm.errors import ConfigError

SHAPE = (12, 14, 40)


def flat_geology(faults=(), shear=(0.0, 0.0), noise_level=0.0) -> Geology:
    reflectivity = np.random.default_rng(7).uniform(-1, 1, 200)
    fold = Fold(offset=0.0, bumps=np.zeros((0, 4)), shear=shear, depth_scale=float(SHAPE[2]))
    return Geology(reflectivity=reflectivity, first_depth=-80, fold=fold, faults=tuple(faults),
                   peak_frequency=0.1, noise_level=noise_level, noise_seed=3)


def test_same_seed_same_volume_and_different_seeds_differ():
    first, again, other = (synthetic_volume((16, 16, 32), seed) for seed in (11, 11, 12))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_noise_free_volume_has_unit_rms():
    config = SyntheticConfig(noise_level=(0.0, 0.0))
    volume = synthetic_volume((16, 16, 32), 5, config).astype(np.float64)
    assert math.sqrt(np.mean(volume**2)) == pytest.approx(1.0, rel=1e-5)


def test_noise_level_is_the_standard_deviation_of_the_added_noise():
    clean = render(flat_geology(), SHAPE).astype(np.float64)
    noisy = render(flat_geology(noise_level=0.2), SHAPE).astype(np.float64)
    assert np.std(noisy - clean) == pytest.approx(0.2, rel=0.05)


def test_flat_layers_give_identical_traces():
    volume = render(flat_geology(), SHAPE)
    np.testing.assert_allclose(volume, np.broadcast_to(volume[:1, :1], SHAPE), atol=1e-6)


def test_planar_shear_of_one_sample_per_inline_shifts_each_inline_by_one_sample():
    volume = render(flat_geology(shear=(1.0, 0.0)), SHAPE)
    # r(z + x): the trace at inline x + 1 is the trace at inline x moved up by one sample
    np.testing.assert_allclose(volume[1:, :, :-1], volume[:-1, :, 1:], atol=1e-5)


def test_vertical_normal_fault_drops_the_hanging_wall_by_the_throw():
    throw = 4
    fault = Fault(centre=(6.0, 6.5, 20.0), strike=0.0, dip=math.pi / 2, throw=float(throw), extent=1e9)
    volume = render(flat_geology(faults=[fault]), SHAPE)
    footwall, hanging_wall = volume[:, :7], volume[:, 7:]  # strike along inlines: the plane is crossline 6.5
    np.testing.assert_allclose(footwall, np.broadcast_to(footwall[:1, :1], footwall.shape), atol=1e-6)
    np.testing.assert_allclose(hanging_wall[:, :, throw:], footwall[:, :1, :-throw].repeat(7, axis=1), atol=1e-5)


def test_dipping_fault_moves_points_along_the_dip_by_throw_over_sin_dip():
    dip = math.radians(60)
    fault = Fault(centre=(0.0, 0.0, 0.0), strike=math.radians(90), dip=dip, throw=3.0, extent=1e9)
    # strike along crosslines, dipping towards -inline: the down-dip vector is (-cos dip, 0, sin dip)
    above, below = np.array([[-5.0, 2.0, 0.0]]), np.array([[5.0, 2.0, 0.0]])
    slip = 3.0 / math.sin(dip) * np.array([-math.cos(dip), 0.0, math.sin(dip)])
    np.testing.assert_allclose(fault.undo(above), above - slip)
    np.testing.assert_array_equal(fault.undo(below), below)


def test_ricker_peaks_at_its_peak_frequency_and_is_one_at_zero():
    frequency = 0.08
    wavelet = ricker(frequency, wavelet_half_length(frequency))
    assert wavelet[len(wavelet) // 2] == 1.0
    spectrum = np.abs(np.fft.rfft(wavelet, n=2**16))
    frequencies = np.fft.rfftfreq(2**16)
    assert frequencies[np.argmax(spectrum)] == pytest.approx(frequency, abs=2e-4)
    assert abs(wavelet[0]) < 1e-8 and abs(wavelet[-1]) < 1e-8  # the window holds the whole wavelet


def test_bad_config_and_shape_are_config_errors():
    with pytest.raises(ConfigError, match="throw"):
        SyntheticConfig(throw=(0.2, 0.1))
    with pytest.raises(ConfigError, match="Nyquist"):
        SyntheticConfig(peak_frequency_hz=(20.0, 130.0))
    with pytest.raises(ConfigError, match="three positive sizes"):
        synthetic_volume((16, 16), 0)
