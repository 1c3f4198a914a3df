"""Baseline samplers for benchmarks: what a generative model has to beat.

* :class:`GaussianBaseline`: every point i.i.d. from one 3D Gaussian fitted (mean, covariance) to all training
  points pooled. It knows the data's first two moments and nothing about shape: a floor.
* :class:`JitterBaseline`: pick a training shape uniformly, take ``n_points`` of its points (a random subset,
  or with replacement when it has fewer), add ``N(0, sigma^2)`` per coordinate. A memoriser: close to the
  training set by construction, so it scores well against the training set and exposes overfitting against
  held-out references.
"""

from __future__ import annotations

import numpy as np

from sciddm.errors import ConfigError


class GaussianBaseline:
    """I.i.d. points from ``N(mean, covariance)`` fitted to the pooled training points."""

    def fit(self, clouds: np.ndarray) -> GaussianBaseline:
        flat = np.asarray(clouds, dtype=np.float64).reshape(-1, 3)
        self.mean, self.covariance = flat.mean(axis=0), np.cov(flat, rowvar=False)
        return self

    def sample(self, count: int, n_points: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.multivariate_normal(self.mean, self.covariance, size=(count, n_points))


class JitterBaseline:
    """A random training shape, resampled to ``n_points`` points, plus Gaussian noise of std ``sigma``; with
    ``labels`` (at fit and at sampling) the shape is drawn among the training shapes of each requested label (the
    class-matched memoriser a class-conditional model is compared to)."""

    def __init__(self, sigma: float = 0.01):
        if sigma < 0:
            raise ConfigError(f"sigma must be non-negative, got {sigma}")
        self.sigma = sigma

    def fit(self, clouds: np.ndarray, labels: np.ndarray | None = None) -> JitterBaseline:
        self.clouds = np.asarray(clouds, dtype=np.float64)
        self.labels = None if labels is None else np.asarray(labels)
        return self

    def sample(self, count: int, n_points: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
        rng = np.random.default_rng(seed)
        size = self.clouds.shape[1]
        if labels is None:
            shapes = rng.integers(len(self.clouds), size=count)
        else:
            if self.labels is None or len(labels) != count:
                raise ConfigError(f"class-matched sampling needs fitted labels and {count} requested labels")
            members = [np.flatnonzero(self.labels == label) for label in labels]
            if any(len(m) == 0 for m in members):
                raise ConfigError(f"a requested label has no training shape (fitted labels {np.unique(self.labels)})")
            shapes = np.array([m[rng.integers(len(m))] for m in members])
        picks = [rng.choice(size, n_points, replace=n_points > size) for _ in range(count)]
        chosen = np.stack([self.clouds[s, p] for s, p in zip(shapes, picks, strict=True)])
        return chosen + self.sigma * rng.standard_normal(chosen.shape)
