"""Noise schedules: derivatives, log-SNR monotonicity and inverses, end points, against independent computations."""

from __future__ import annotations

import math

import pytest
import torch

from sciddm.schedules import EDM, VE, LinearFlow, Schedule, VPCosine, VPLinear

SCHEDULES = [VPCosine(), VPCosine(log_snr_min=-8.0, log_snr_max=6.0), VPLinear(), VPLinear(beta_min=0.5, beta_max=8.0),
             VE(), EDM(), EDM(sigma_min=0.01, sigma_max=10.0, rho=3.0), LinearFlow()]
CLOSED_FORM_INVERSES = [s for s in SCHEDULES if type(s).t_from_log_snr is not Schedule.t_from_log_snr]


def interior_times(n: int = 41) -> torch.Tensor:
    """Times in (0, 1) away from the end points, where VP-linear's sigma_dot and the flow's log-SNR are singular."""
    return torch.linspace(0.02, 0.98, n, dtype=torch.float64)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("name", ["alpha", "sigma"])
def test_derivatives_match_autograd(schedule, name):
    t = interior_times().requires_grad_(True)
    value = getattr(schedule, name)(t) + 0.0 * t  # constant alpha (VE, EDM) still gets a graph
    (grad,) = torch.autograd.grad(value.sum(), t)
    analytic = getattr(schedule, f"{name}_dot")(t.detach())
    torch.testing.assert_close(analytic, grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("name", ["alpha", "sigma"])
def test_derivatives_match_central_differences(schedule, name):
    t, h = interior_times(), 1e-5
    f = getattr(schedule, name)
    difference = (f(t + h) - f(t - h)) / (2 * h)
    torch.testing.assert_close(getattr(schedule, f"{name}_dot")(t), difference, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_log_snr_is_two_log_alpha_over_sigma_and_strictly_decreasing(schedule):
    t = interior_times(401)
    log_snr = schedule.log_snr(t)
    torch.testing.assert_close(log_snr, 2 * torch.log(schedule.alpha(t) / schedule.sigma(t)), rtol=1e-10, atol=1e-10)
    assert (log_snr[1:] < log_snr[:-1]).all()


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_t_from_log_snr_inverts_log_snr(schedule):
    t = interior_times()
    torch.testing.assert_close(schedule.t_from_log_snr(schedule.log_snr(t)), t, rtol=0, atol=1e-10)


@pytest.mark.parametrize("schedule", CLOSED_FORM_INVERSES, ids=repr)
def test_closed_form_inverse_equals_base_class_bisection(schedule):
    log_snr = schedule.log_snr(interior_times())
    torch.testing.assert_close(schedule.t_from_log_snr(log_snr), Schedule.t_from_log_snr(schedule, log_snr),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize(("lo", "hi"), [(-15.0, 15.0), (-8.0, 6.0), (-3.0, 20.0)])
def test_vp_cosine_end_points_hit_the_log_snr_bounds(lo, hi):
    schedule = VPCosine(log_snr_min=lo, log_snr_max=hi)
    ends = schedule.log_snr(torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(ends, torch.tensor([hi, lo], dtype=torch.float64), rtol=0, atol=1e-12)
    t = interior_times()
    torch.testing.assert_close(schedule.alpha(t) ** 2 + schedule.sigma(t) ** 2, torch.ones_like(t))


def test_vp_linear_alpha_is_exp_of_minus_half_integrated_beta():
    """:math:`\\alpha(t)^2 = \\exp(-\\int_0^t\\beta)` by the trapezoidal rule on a fine grid (Song et al. 2021)."""
    schedule = VPLinear(beta_min=0.3, beta_max=12.0)
    s = torch.linspace(0.0, 1.0, 200001, dtype=torch.float64)
    beta = 0.3 + s * (12.0 - 0.3)
    integral = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumulative_trapezoid(beta, s)])
    idx = torch.arange(2000, 200001, 2000)
    torch.testing.assert_close(schedule.alpha(s[idx]) ** 2, torch.exp(-integral[idx]), rtol=1e-9, atol=0)
    torch.testing.assert_close(schedule.alpha(s[idx]) ** 2 + schedule.sigma(s[idx]) ** 2, torch.ones(len(idx),
                               dtype=torch.float64))


def test_ve_and_edm_end_points_and_edm_karras_ramp():
    ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(VE(0.01, 50.0).sigma(ends), torch.tensor([0.01, 50.0], dtype=torch.float64))
    torch.testing.assert_close(EDM(0.002, 80.0).sigma(ends), torch.tensor([0.002, 80.0], dtype=torch.float64))
    # Karras et al. 2022, eq. 5 with i/(N-1) = t: sigma = (smax^(1/rho) + t (smin^(1/rho) - smax^(1/rho)))^rho,
    # written from the high-noise end, equals our sigma(1 - t)
    t = interior_times()
    karras = (80.0 ** (1 / 7) + t * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7
    torch.testing.assert_close(EDM().sigma(1 - t), karras)


def test_linear_flow_coefficients():
    t = interior_times()
    flow = LinearFlow()
    torch.testing.assert_close(flow.alpha(t) + flow.sigma(t), torch.ones_like(t))
    torch.testing.assert_close(flow.log_snr(t), 2 * torch.log((1 - t) / t))
    assert flow.log_snr(torch.tensor(1.0)).item() == -math.inf


@pytest.mark.parametrize(("factory", "bad"), [(VPCosine, (5.0, -5.0)), (VE, (0.0, 1.0)), (VE, (2.0, 1.0)),
                                               (EDM, (-1.0, 80.0))])
def test_invalid_schedule_parameters_are_rejected(factory, bad):
    with pytest.raises(ValueError, match=factory.__name__):
        factory(*bad)
