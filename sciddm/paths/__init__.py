"""Probability paths: how clean data is corrupted over t in [0, 1] and what the network may predict."""

from sciddm.paths.gaussian import GaussianPath, Subspace, ZeroCenterOfMass

__all__ = ["GaussianPath", "Subspace", "ZeroCenterOfMass"]
