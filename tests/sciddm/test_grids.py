"""Time grids: exact end points, monotonicity, and the spacing each kind promises, against closed forms."""

from __future__ import annotations

import pytest
import torch

from sciddm.errors import ConfigError
from sciddm.schedules import EDM, VE, LinearFlow, VPCosine, VPLinear
from sciddm.solvers import time_grid
from sciddm.solvers.grids import LOG_SNR_CLIP

KINDS = ["uniform", "log_snr", "edm"]
# (schedule, t_max, t_min) with finite log-SNR at both ends
FINITE = [(VPCosine(), 1.0, 0.0), (VPLinear(), 1.0, 1e-3), (VE(), 1.0, 0.0), (EDM(), 1.0, 0.0),
          (LinearFlow(), 0.99, 0.01), (VPCosine(), 0.8, 0.1)]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("schedule", "t_max", "t_min"), FINITE + [(LinearFlow(), 1.0, 0.0)], ids=repr)
@pytest.mark.parametrize("steps", [1, 2, 17])
def test_end_points_exact_and_strictly_decreasing(kind, schedule, t_max, t_min, steps):
    grid = time_grid(schedule, steps, kind, t_max=t_max, t_min=t_min)
    assert grid.dtype == torch.float64 and grid.shape == (steps + 1,)
    assert grid[0].item() == t_max and grid[-1].item() == t_min
    assert (grid[1:] < grid[:-1]).all()


def test_defaults_are_the_schedule_end_points():
    grid = time_grid(VPLinear(), 4)
    assert grid[0].item() == 1.0 and grid[-1].item() == VPLinear.t_min == 1e-3


def test_uniform_grid_is_uniform():
    grid = time_grid(VPCosine(), 8, "uniform", t_max=0.9, t_min=0.1)
    torch.testing.assert_close(grid, torch.tensor([0.9 - 0.1 * i for i in range(9)], dtype=torch.float64))


@pytest.mark.parametrize(("schedule", "t_max", "t_min"), FINITE, ids=repr)
def test_log_snr_grid_has_equal_log_snr_steps(schedule, t_max, t_min):
    grid = time_grid(schedule, 12, "log_snr", t_max=t_max, t_min=t_min)
    log_snr = schedule.log_snr(grid)
    ends = schedule.log_snr(torch.tensor([t_max, t_min], dtype=torch.float64))
    expected = torch.linspace(ends[0].item(), ends[1].item(), 13, dtype=torch.float64)
    torch.testing.assert_close(log_snr, expected, rtol=0, atol=1e-8)


def test_log_snr_grid_clips_an_infinite_end():
    """Linear flow at t=1 has log-SNR -inf: interior points are spaced from -LOG_SNR_CLIP (module docstring)."""
    flow = LinearFlow()
    grid = time_grid(flow, 6, "log_snr", t_max=1.0, t_min=0.5)
    expected = torch.linspace(-LOG_SNR_CLIP, 0.0, 7, dtype=torch.float64)
    torch.testing.assert_close(flow.log_snr(grid[1:]), expected[1:], rtol=0, atol=1e-8)


@pytest.mark.parametrize("steps", [3, 10, 40])
def test_edm_grid_on_edm_schedule_is_karras_sigmas(steps):
    """Karras et al. 2022, eq. 5: sigma_i = (smax^(1/rho) + i/N (smin^(1/rho) - smax^(1/rho)))^rho, rho = 7."""
    schedule = EDM(sigma_min=0.002, sigma_max=80.0)
    grid = time_grid(schedule, steps, "edm")
    i = torch.arange(steps + 1, dtype=torch.float64)
    karras = (80.0 ** (1 / 7) + i / steps * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7
    torch.testing.assert_close(schedule.sigma(grid), karras, rtol=1e-10, atol=0)
    torch.testing.assert_close(grid, time_grid(schedule, steps, "uniform"), rtol=0, atol=1e-12)


def test_edm_grid_on_vp_spaces_sigma_over_alpha_like_karras():
    schedule, rho, steps = VPCosine(), 5.0, 9
    grid = time_grid(schedule, steps, "edm", rho=rho)
    r = schedule.sigma(grid) / schedule.alpha(grid)
    ramp = r ** (1 / rho)
    torch.testing.assert_close(ramp[1:] - ramp[:-1], torch.full((steps,), (ramp[-1] - ramp[0]).item() / steps,
                                                               dtype=torch.float64), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("steps", [0, -3, 2.5, "10"])
def test_bad_step_counts_raise_config_error_naming_the_value(steps):
    with pytest.raises(ConfigError, match=f"steps must be an integer >= 1, got {steps!r}"):
        time_grid(VPCosine(), steps)


def test_unknown_grid_kind_names_the_value():
    with pytest.raises(ConfigError, match="unknown time grid 'karras'; choose one of: edm, log_snr, uniform"):
        time_grid(VPCosine(), 5, "karras")


@pytest.mark.parametrize(("t_max", "t_min"), [(0.5, 0.5), (0.3, 0.6), (1.2, 0.0), (1.0, -0.1)])
def test_bad_end_points_raise_config_error_naming_them(t_max, t_min):
    with pytest.raises(ConfigError, match=f"t_min={float(t_min)}, t_max={float(t_max)}"):
        time_grid(VPCosine(), 5, t_max=t_max, t_min=t_min)


def test_log_snr_grid_below_the_default_t_min_of_a_bisection_schedule():
    grid = time_grid(VPLinear(), 8, "log_snr", t_min=1e-6)
    assert (grid[1:] < grid[:-1]).all()
