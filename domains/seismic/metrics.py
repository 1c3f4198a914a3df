"""Reconstruction metrics for seismic volumes, overall and on the missing traces.

For a reconstruction ``x`` of the true volume ``y`` over a set of voxels ``R`` (all voxels, or the voxels of the
missing traces):

- ``mse = mean_R (x - y)^2``;
- ``snr_db = 10 log10( sum_R y^2 / sum_R (x - y)^2 )``, the reconstruction SNR used in seismic interpolation
  papers (e.g. Chai et al., "Deep learning for irregularly and regularly missing data reconstruction",
  *Scientific Reports* 10, 2020); +inf for a perfect reconstruction;
- ``ssim``: the mean over ``R`` of the SSIM map of Wang, Bovik, Sheikh & Simoncelli, *IEEE TIP* 13(4), 2004,
  extended to 3D: local means, variances and covariance are weighted by an isotropic Gaussian window with
  sigma = 1.5 samples truncated at radius 5 (an 11-tap window per axis, as in the paper), the volume being
  mirrored at its borders (scipy ``reflect``), without the N/(N-1) sample correction;
  ``SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))`` with
  ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` and ``L = max(y) - min(y)`` the data range of the true volume;
- ``fk_difference = || |F x| - |F y| ||_2 / || |F y| ||_2``, the relative L2 distance between the f-k-k
  amplitude spectra (``F`` the 3D discrete Fourier transform over inline, crossline and time), always over the
  whole volume: it measures whether the reconstruction restores the dips and frequency content (aliasing from
  regular decimation shows up here first).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from domains.seismic.masks import load_mask, volume_mask
from domains.seismic.volume_io import read_volume
from sciddm.errors import ConfigError, DataError

SSIM_SIGMA = 1.5
SSIM_TRUNCATE = 3.5  # radius int(3.5 * 1.5 + 0.5) = 5 samples
SSIM_K1, SSIM_K2 = 0.01, 0.03


def mse(x: np.ndarray, y: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean squared error over ``region`` (all voxels when None)."""
    error = _select(x.astype(np.float64) - y, region)
    return float(np.mean(error**2))


def snr_db(x: np.ndarray, y: np.ndarray, region: np.ndarray | None = None) -> float:
    """``10 log10(sum y^2 / sum (x - y)^2)`` over ``region``; +inf when ``x == y`` there."""
    signal = np.sum(_select(y.astype(np.float64), region) ** 2)
    error = np.sum(_select(x.astype(np.float64) - y, region) ** 2)
    return math.inf if error == 0 else float(10 * np.log10(signal / error))


def ssim_map(x: np.ndarray, y: np.ndarray, data_range: float | None = None) -> np.ndarray:
    """Voxel-wise 3D SSIM of ``x`` against the reference ``y`` (see the module docstring)."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    if data_range is None:
        data_range = float(y.max() - y.min())
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2

    def local_mean(v: np.ndarray) -> np.ndarray:
        return gaussian_filter(v, SSIM_SIGMA, truncate=SSIM_TRUNCATE, mode="reflect")

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x**2
    var_y = local_mean(y * y) - mu_y**2
    cov = local_mean(x * y) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


def ssim(x: np.ndarray, y: np.ndarray, region: np.ndarray | None = None) -> float:
    """Mean of :func:`ssim_map` over ``region``."""
    return float(np.mean(_select(ssim_map(x, y), region)))


def fk_difference(x: np.ndarray, y: np.ndarray) -> float:
    """Relative L2 distance between the 3D Fourier amplitude spectra of ``x`` and ``y``."""
    spectrum_x = np.abs(np.fft.rfftn(x.astype(np.float64)))
    spectrum_y = np.abs(np.fft.rfftn(y.astype(np.float64)))
    return float(np.linalg.norm(spectrum_x - spectrum_y) / np.linalg.norm(spectrum_y))


def _select(values: np.ndarray, region: np.ndarray | None) -> np.ndarray:
    return values if region is None else values[region]


def reconstruction_metrics(x: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> dict[str, float]:
    """All metrics overall and, when ``mask`` (trace or full, True = observed) has gaps, on the missing part."""
    ssim_values = ssim_map(x, y)
    metrics = {
        "mse": mse(x, y),
        "snr_db": snr_db(x, y),
        "ssim": float(ssim_values.mean()),
        "fk_difference": fk_difference(x, y),
    }
    if mask is not None:
        missing = ~volume_mask(mask, y.shape)
        metrics["missing_fraction"] = float(missing.mean())
        if missing.any():
            metrics.update(
                mse_missing=mse(x, y, missing),
                snr_db_missing=snr_db(x, y, missing),
                ssim_missing=float(ssim_values[missing].mean()),
            )
    return metrics


def evaluate_file(
    path: Path, reference: Path | None = None, mask: str | Path | None = None, **options
) -> dict[str, float | int | str]:
    """Metrics of the volume at ``path`` (.npy or SEG-Y) against ``reference``, optionally with a mask file.

    Without a reference only the volume's size and amplitude statistics are reported.
    """
    if options:
        raise ConfigError(f"unknown seismic evaluation options: {', '.join(sorted(options))}")
    volume = read_volume(path)
    summary = {
        "n_inlines": volume.shape[0],
        "n_crosslines": volume.shape[1],
        "n_samples": volume.shape[2],
        "rms": float(np.sqrt(np.mean(volume.astype(np.float64) ** 2))),
        "max_abs": float(np.abs(volume).max()),
    }
    if reference is None:
        if mask is not None:
            raise ConfigError(f"--mask needs --reference: the mask of {path} has nothing to compare against")
        return summary
    truth = read_volume(reference)
    if truth.shape != volume.shape:
        raise DataError(path, f"volume shape {volume.shape} differs from the reference {reference} {truth.shape}")
    trace_mask = None if mask is None else load_mask(mask, truth.shape)
    return {**summary, **reconstruction_metrics(volume, truth, trace_mask)}
