"""Fixtures of the particle-method tests."""

from __future__ import annotations

import pytest
import torch

from sciddm.sampling import sample_fields
from tests.sciddm.guidance.gaussian_setup import FIELD, SAMPLER, exact_network


@pytest.fixture(scope="module")
def model_variance() -> float:
    """Variance of the plain sampler's first coordinate (20k draws; s.e. of the variance ~0.01)."""
    gen = torch.Generator().manual_seed(123)
    samples, _ = sample_fields(exact_network, {"x": FIELD}, {"x": torch.zeros(20000, 2)}, {}, SAMPLER, gen)
    return samples["x"][:, 0].var().item()
