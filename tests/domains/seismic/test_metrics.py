import math
from pathlib import Path

import numpy as np
import pytest

from domains.seismic.masks import random_traces, save_mask
from domains.seismic.metrics import (
    evaluate_file,
    fk_difference,
    mse,
    reconstruction_metrics,
    snr_db,
    ssim,
    ssim_map,
)
from domains.seismic.segy import new_headers, write_segy
from sciddm.errors import ConfigError, DataError


@pytest.fixture
def volume() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(9, 10, 16)).astype(np.float32)


def test_identical_volumes_are_perfect(volume):
    assert snr_db(volume, volume) == math.inf
    assert mse(volume, volume) == 0.0
    assert ssim(volume, volume) == pytest.approx(1.0, abs=1e-12)
    assert fk_difference(volume, volume) == 0.0


def test_snr_and_mse_of_a_known_error():
    truth = np.ones((4, 4, 4))
    assert snr_db(truth + 0.1, truth) == pytest.approx(20.0)
    assert mse(truth + 0.1, truth) == pytest.approx(0.01)
    region = np.zeros_like(truth, dtype=bool)
    region[0] = True
    recon = truth.copy()
    recon[0] += 0.01  # error only inside the region
    assert snr_db(recon, truth, region) == pytest.approx(40.0)
    assert snr_db(recon, truth) == pytest.approx(40.0 + 10 * math.log10(4))


def test_ssim_matches_brute_force_gaussian_window_at_an_interior_voxel():
    volume = np.random.default_rng(0).normal(size=(12, 12, 16))
    recon = volume + np.random.default_rng(1).normal(scale=0.5, size=volume.shape)
    x, y = recon.astype(np.float64), volume.astype(np.float64)
    offsets = np.arange(-5, 6)
    g = np.exp(-(offsets**2) / (2 * 1.5**2))
    g /= g.sum()
    w = g[:, None, None] * g[None, :, None] * g[None, None, :]
    centre = (5, 5, 8)  # 5 samples from the first border along every axis: no mirroring needed
    window = tuple(slice(c - 5, c + 6) for c in centre)
    bx, by = x[window], y[window]
    mu_x, mu_y = (w * bx).sum(), (w * by).sum()
    var_x, var_y = (w * bx**2).sum() - mu_x**2, (w * by**2).sum() - mu_y**2
    cov = (w * bx * by).sum() - mu_x * mu_y
    c1, c2 = (0.01 * np.ptp(y)) ** 2, (0.03 * np.ptp(y)) ** 2
    expected = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    assert ssim_map(recon, volume)[centre] == pytest.approx(expected, rel=1e-10)


def test_ssim_decreases_with_the_noise_added(volume):
    noisy = volume + np.random.default_rng(2).normal(size=volume.shape)
    assert 0 < ssim(noisy, volume) < ssim(0.5 * (noisy + volume), volume) < 1


def test_fk_difference_ignores_circular_shifts_and_measures_scaling(volume):
    assert fk_difference(np.roll(volume, (2, 3, 5), axis=(0, 1, 2)), volume) == pytest.approx(0.0, abs=1e-12)
    assert fk_difference(2 * volume, volume) == pytest.approx(1.0)


def test_missing_metrics_only_see_the_missing_traces(volume):
    mask = random_traces(volume.shape[:2], 0.5, seed=0)
    recon = volume.copy()
    recon[~mask] += 0.25
    metrics = reconstruction_metrics(recon, volume, mask)
    assert metrics["missing_fraction"] == 0.5
    assert metrics["mse_missing"] == pytest.approx(0.0625, rel=1e-6)
    assert metrics["mse"] == pytest.approx(0.03125, rel=1e-6)
    missing_energy = np.sum(volume[~mask].astype(np.float64) ** 2)
    assert metrics["snr_db_missing"] == pytest.approx(10 * math.log10(missing_energy / (0.0625 * 45 * 16)))
    assert "snr_db_missing" not in reconstruction_metrics(recon, volume, np.ones((9, 10), bool))


def test_evaluate_file_reads_npy_and_segy_with_a_mask_file(tmp_path: Path, volume):
    mask = random_traces(volume.shape[:2], 0.3, seed=1)
    recon = volume + 0.1 * (~mask)[..., None]
    np.save(tmp_path / "recon.npy", recon)
    write_segy(tmp_path / "true.sgy", volume, new_headers(volume.shape[:2], volume.shape[2]))
    save_mask(tmp_path / "mask.npy", mask)
    result = evaluate_file(tmp_path / "recon.npy", tmp_path / "true.sgy", mask=tmp_path / "mask.npy")
    expected = reconstruction_metrics(recon.astype(np.float32), volume, mask)
    for key, value in expected.items():
        assert result[key] == pytest.approx(value)
    assert result["n_inlines"] == 9 and result["n_samples"] == 16
    alone = evaluate_file(tmp_path / "recon.npy")
    assert alone["max_abs"] == pytest.approx(float(np.abs(recon).max()))


def test_evaluate_file_bad_inputs_name_the_file(tmp_path: Path, volume):
    np.save(tmp_path / "recon.npy", volume)
    np.save(tmp_path / "small.npy", volume[:, :5])
    save_mask(tmp_path / "mask.npy", np.ones((3, 3), bool))
    np.save(tmp_path / "flat.npy", volume[0])
    nan = volume.copy()
    nan[1, 2, 3] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    (tmp_path / "recon.txt").write_text("1 2 3")
    with pytest.raises(DataError, match=r"recon.npy: volume shape \(9, 10, 16\) differs from the reference"):
        evaluate_file(tmp_path / "recon.npy", tmp_path / "small.npy")
    with pytest.raises(DataError, match=r"mask.npy: mask shape \(3, 3\) fits neither"):
        evaluate_file(tmp_path / "recon.npy", tmp_path / "recon.npy", mask=tmp_path / "mask.npy")
    with pytest.raises(DataError, match=r"flat.npy: expected a numeric 3D volume"):
        evaluate_file(tmp_path / "flat.npy")
    with pytest.raises(DataError, match=r"nan.npy: non-finite sample at index \(1, 2, 3\)"):
        evaluate_file(tmp_path / "nan.npy")
    with pytest.raises(DataError, match=r"recon.txt: unknown volume format '.txt'"):
        evaluate_file(tmp_path / "recon.txt")
    with pytest.raises(ConfigError, match="--mask needs --reference"):
        evaluate_file(tmp_path / "recon.npy", mask=tmp_path / "mask.npy")
