"""The sampling loop: exact NFE accounting, end points, seeding, stochastic samplers against exact moments,
the Gaussian-mixture oracle, and user errors."""

from __future__ import annotations

import math

import pytest
import torch

from sciddm.errors import ConfigError
from sciddm.paths.gaussian import GaussianPath
from sciddm.sampling import solve
from sciddm.schedules import EDM, VE, LinearFlow, VPCosine, VPLinear
from sciddm.solvers import SOLVERS, make_solver, time_grid
from tests.sciddm.gaussian_targets import GaussianMixture, gaussian_denoiser

MEAN, STD = 0.7, 0.3


def shrink(x: torch.Tensor, t: float) -> torch.Tensor:
    """A cheap deterministic stand-in denoiser whose output depends on (x, t)."""
    return (0.5 + 0.1 * t) * x


@pytest.mark.parametrize("name", sorted(SOLVERS))
@pytest.mark.parametrize("steps", [1, 3, 7])
def test_nfe_is_steps_times_evals_per_step_plus_final_denoise(name, steps):
    solver = make_solver(name)
    path = GaussianPath(VPCosine())  # sigma(0) = 5.5e-4 > 0: every step is an ordinary step
    grid = time_grid(path.schedule, steps, "uniform")
    x = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(0)
    assert solve(path, solver, shrink, x, grid, generator=gen).nfe == steps * solver.evals_per_step
    assert solve(path, solver, shrink, x, grid, generator=gen, denoise_final=True).nfe == \
        steps * solver.evals_per_step + 1


@pytest.mark.parametrize("name", ["ddim", "euler", "heun", "dpmpp_2m", "dpmpp_3m"])
@pytest.mark.parametrize("steps", [1, 4])
def test_step_onto_zero_noise_returns_the_x0_estimate(name, steps):
    """On the linear flow sigma(0) = 0: the last step costs one evaluation and returns D(x_prev, t_prev);
    denoise_final adds nothing there."""
    path = GaussianPath(LinearFlow())
    grid = time_grid(path.schedule, steps, "uniform", t_min=0.0)
    calls = []

    def recording(x, t):
        calls.append((x.clone(), t))
        return shrink(x, t)

    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    solver = make_solver(name)
    result = solve(path, solver, recording, x, grid, denoise_final=True)
    assert result.nfe == (steps - 1) * solver.evals_per_step + 1 == len(calls)
    last_x, last_t = calls[-1]
    assert last_t == grid[-2].item()
    torch.testing.assert_close(result.x, shrink(last_x, last_t), rtol=0, atol=0)
    if steps == 1:
        torch.testing.assert_close(last_x, x, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["ddpm", "euler_maruyama"])
def test_stochastic_samples_depend_only_on_the_seed(name):
    path = GaussianPath(VPCosine())
    grid = time_grid(path.schedule, 10, "uniform", t_min=0.05)
    denoise = gaussian_denoiser(path, MEAN, STD)
    x = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))

    def run(seed):
        return solve(path, make_solver(name), denoise, x.clone(), grid, generator=torch.Generator().manual_seed(seed)).x

    first, again, other = run(7), run(7), run(8)
    assert torch.equal(first, again)
    assert (first - other).abs().min() > 0  # every entry received different noise


@pytest.mark.parametrize("name", ["ddpm", "euler_maruyama"])
def test_stochastic_samplers_reproduce_gaussian_marginals(name):
    """From the prior at t=1, 600 uniform steps to t_min = 0.02 with the exact denoiser of N(0.7, 0.3^2):
    samples match the exact marginal N(alpha mu, alpha^2 s^2 + sigma^2) at t_min within 5 standard errors
    (n = 20000; the measured discretisation bias at 1000 steps, DDPM std -0.0013, is well below them)."""
    path = GaussianPath(VPCosine())
    grid = time_grid(path.schedule, 600, "uniform", t_min=0.02)
    gen = torch.Generator().manual_seed(3)
    n = 20000
    x = path.prior(torch.empty(n, dtype=torch.float64), generator=gen)
    out = solve(path, make_solver(name), gaussian_denoiser(path, MEAN, STD), x, grid, generator=gen).x
    alpha, sigma = path.schedule.alpha(grid[-1]).item(), path.schedule.sigma(grid[-1]).item()
    std = math.sqrt(alpha**2 * STD**2 + sigma**2)
    assert abs(out.mean().item() - alpha * MEAN) < 5 * std / math.sqrt(n)
    assert abs(out.std().item() - std) < 5 * std / math.sqrt(2 * n)


@pytest.mark.parametrize("schedule", [VPCosine(), VPLinear(), VE(), EDM()], ids=repr)
def test_mixture_denoiser_is_tweedie_posterior_mean(schedule):
    """E[x0|x_t] = (x_t + sigma^2 grad log p_t(x_t)) / alpha with the score from autograd of the log density."""
    mixture = GaussianMixture.random(dim=3, components=4, seed=0)
    t = torch.tensor(0.4, dtype=torch.float64)
    alpha, sigma = schedule.alpha(t), schedule.sigma(t)
    x = alpha * mixture.sample(50, torch.Generator().manual_seed(0)) + sigma * torch.randn(
        50, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    (score,) = torch.autograd.grad(mixture.log_marginal(x, alpha, sigma).sum(), x)
    tweedie = (x.detach() + sigma**2 * score) / alpha
    torch.testing.assert_close(mixture.denoiser(GaussianPath(schedule))(x.detach(), t.item()), tweedie)


def test_mixture_with_one_component_matches_the_gaussian_denoiser():
    path = GaussianPath(VPCosine())
    mixture = GaussianMixture(torch.full((1, 2), MEAN, dtype=torch.float64), torch.tensor([STD], dtype=torch.float64),
                              torch.ones(1, dtype=torch.float64))
    x = torch.randn(10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    for t in (0.0, 0.3, 1.0):
        torch.testing.assert_close(mixture.denoiser(path)(x, t), gaussian_denoiser(path, MEAN, STD)(x, t))


def test_mixture_samples_have_the_mixture_mean():
    mixture = GaussianMixture.random(dim=2, components=3, seed=5)
    samples = mixture.sample(40000, torch.Generator().manual_seed(0))
    spread = samples.std(0).max().item()
    torch.testing.assert_close(samples.mean(0), mixture.mean(), rtol=0, atol=5 * spread / math.sqrt(40000))


def test_unknown_solver_names_the_value():
    with pytest.raises(ConfigError, match="unknown solver 'dpm_solver'; choose one of: ddim, ddpm"):
        make_solver("dpm_solver")
