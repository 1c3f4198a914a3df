"""Baselines recover what they fit; the picture writer writes a real image."""

import matplotlib.image
import numpy as np
import pytest

from domains.pointclouds.baselines import GaussianBaseline, JitterBaseline
from domains.pointclouds.chamfer import pairwise_chamfer
from domains.pointclouds.plots import plot_cloud_grid
from domains.pointclouds.shapes import generate_family
from sciddm.errors import ConfigError


def test_gaussian_baseline_recovers_mean_and_covariance():
    mean, covariance = np.array([1.0, -2.0, 0.5]), np.array([[2.0, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 0.5]])
    clouds = np.random.default_rng(0).multivariate_normal(mean, covariance, size=(50, 400))
    baseline = GaussianBaseline().fit(clouds)
    np.testing.assert_allclose(baseline.mean, mean, atol=0.05)
    np.testing.assert_allclose(baseline.covariance, covariance, atol=0.05)
    samples = baseline.sample(3, 100, seed=1)
    assert samples.shape == (3, 100, 3)
    np.testing.assert_array_equal(samples, baseline.sample(3, 100, seed=1))


def test_jitter_without_noise_returns_training_shapes():
    clouds, _ = generate_family("torus", 5, 64, seed=0)
    samples = JitterBaseline(sigma=0.0).fit(clouds).sample(8, 64, seed=2)
    assert np.all(pairwise_chamfer(samples, clouds).min(axis=1) == 0)  # each is a permuted training cloud
    noisy = JitterBaseline(sigma=0.01).fit(clouds).sample(8, 64, seed=2)
    assert (noisy - samples).std() == pytest.approx(0.01, rel=0.1)
    with pytest.raises(ConfigError, match="sigma must be non-negative"):
        JitterBaseline(sigma=-1)


def test_class_matched_jitter_draws_shapes_of_the_requested_labels():
    clouds = np.concatenate([generate_family("torus", 3, 32, seed=0)[0], generate_family("table", 3, 32, seed=1)[0]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    requested = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    samples = JitterBaseline(sigma=0.0).fit(clouds, labels).sample(8, 32, seed=4, labels=requested)
    nearest = pairwise_chamfer(samples, clouds).argmin(axis=1)
    assert np.all(pairwise_chamfer(samples, clouds).min(axis=1) == 0) and np.array_equal(labels[nearest], requested)
    with pytest.raises(ConfigError, match="class-matched"):
        JitterBaseline().fit(clouds).sample(2, 32, seed=0, labels=np.array([0, 1]))
    with pytest.raises(ConfigError, match="no training shape"):
        JitterBaseline().fit(clouds, labels).sample(1, 32, seed=0, labels=np.array([2]))


def test_cloud_grid_picture(tmp_path):
    clouds, _ = generate_family("torus", 5, 200, seed=0)
    path = plot_cloud_grid(clouds, tmp_path / "grid.png", titles=[f"torus {i}" for i in range(5)], columns=3)
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (600, 900)  # 2 rows x 3 columns of 3-inch panels at 100 dpi
    assert (image[..., :3] < 0.9).any(axis=-1).mean() > 0.005  # points were drawn on the white canvas
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]
