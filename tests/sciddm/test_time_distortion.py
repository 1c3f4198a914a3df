"""DeFoG time distortions: hand-computed grids, the maps' end points and monotonicity, and the sampler that walks
the distorted grid (the network is called at exactly those times), for categorical and Gaussian fields."""

import pytest
import torch

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.paths.categorical import Cosine
from sciddm.sampling import Sampler, sample_fields
from sciddm.solvers.grids import TIME_DISTORTIONS, distort_grid

UNIFORM_4 = torch.linspace(1.0, 0.0, 5, dtype=torch.float64)


def test_polydec_on_four_uniform_steps_matches_hand_computation():
    # u = 0, 1/4, 1/2, 3/4, 1 -> f(u) = 2u - u^2 = 0, 7/16, 3/4, 15/16, 1 -> t = 1 - f(u)
    grid = distort_grid(UNIFORM_4, "polydec")
    assert grid.tolist() == pytest.approx([1.0, 9 / 16, 1 / 4, 1 / 16, 0.0], abs=1e-15)
    # steps shrink linearly towards the data: 7/16, 5/16, 3/16, 1/16
    assert (grid[:-1] - grid[1:]).tolist() == pytest.approx([7 / 16, 5 / 16, 3 / 16, 1 / 16], abs=1e-15)


def test_polyinc_and_cos_on_four_uniform_steps():
    assert distort_grid(UNIFORM_4, "polyinc").tolist() == pytest.approx([1, 15 / 16, 3 / 4, 7 / 16, 0], abs=1e-15)
    # cos: f(1/2) = 1/2, f(1/4) = (1 - cos(pi/4))/2
    c = (1 - 2**-0.5) / 2
    assert distort_grid(UNIFORM_4, "cos").tolist() == pytest.approx([1, 1 - c, 0.5, c, 0], abs=1e-15)


def test_identity_keeps_any_grid_and_every_map_keeps_the_ends_and_the_order():
    grid = torch.tensor([0.9, 0.7, 0.2, 0.05], dtype=torch.float64)
    assert torch.equal(distort_grid(grid, "identity"), grid)
    dense = torch.linspace(0.95, 0.01, 201, dtype=torch.float64)
    for name in TIME_DISTORTIONS:
        distorted = distort_grid(dense, name)
        assert distorted[0] == 0.95 and distorted[-1] == 0.01, name
        assert (distorted[1:] < distorted[:-1]).all(), name  # strictly decreasing: still a valid grid


def test_unknown_distortion_is_a_config_error():
    with pytest.raises(ConfigError, match="time distortion"):
        Sampler(steps=4, time_distortion="polynomial")
    with pytest.raises(ConfigError, match="time distortion"):
        distort_grid(UNIFORM_4, "square")


def test_sampler_calls_the_network_at_the_distorted_times():
    field = CategoricalField(2, prior="marginal", marginal=[0.5, 0.5], schedule=Cosine(), loss="cross_entropy")
    times = []

    def network(inputs, t, context):
        times.append(float(t[0]))
        return {"x": torch.zeros(*inputs["x"].shape[:-1], 2)}

    sampler = Sampler(steps=4, categorical_solver="ancestral", time_distortion="polydec")
    state, nfe = sample_fields(network, {"x": field}, {"x": torch.zeros(3, 5, dtype=torch.long)}, {}, sampler,
                               torch.Generator().manual_seed(0))
    # the network sees the start of each step; the last step lands on t = 0, where a(0) = 1 ends the walk
    assert nfe == 4 and times == pytest.approx([1.0, 9 / 16, 1 / 4, 1 / 16], abs=1e-6)
    assert state["x"].shape == (3, 5) and set(state["x"].unique().tolist()) <= {0, 1}


def test_a_gaussian_field_walks_its_schedule_grid_re_spaced():
    from sciddm import GaussianField, LinearFlow
    from sciddm.solvers import time_grid

    field = GaussianField(LinearFlow(), "x0")
    times = []

    def network(inputs, t, context):
        times.append(float(t[0]))
        return {"x": torch.zeros_like(inputs["x"])}

    sampler = Sampler(solver="ddim", steps=3, grid="uniform", time_distortion="polyinc", t_min=0.1)
    sample_fields(network, {"x": field}, {"x": torch.zeros(2, 2)}, {}, sampler)
    expected = distort_grid(time_grid(LinearFlow(), 3, "uniform", t_min=0.1), "polyinc")
    # u = 0, 1/3, 2/3 -> f(u) = u^2 = 0, 1/9, 4/9 -> t = 1 - 0.9 f(u)
    assert times[:3] == pytest.approx([1.0, 0.9, 0.6], abs=1e-6)
    assert times[:3] == pytest.approx(expected[:3].tolist(), abs=1e-6)
