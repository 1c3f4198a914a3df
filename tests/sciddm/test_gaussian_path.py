"""Gaussian path: forward-process moments, conversions between parametrisations, zero-centre-of-mass subspace."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from sciddm.errors import ConfigError
from sciddm.paths.gaussian import PREDICTIONS, GaussianPath, ZeroCenterOfMass
from sciddm.schedules import EDM, VE, LinearFlow, VPCosine, VPLinear

SCHEDULES = [VPCosine(), VPLinear(), VE(), EDM(), LinearFlow()]
Z = 5.0  # Monte-Carlo tolerance in standard errors (two-sided p ~ 6e-7 per check)


def check_moments(samples: torch.Tensor, mean: float, std: float):
    """Sample mean and std agree with (mean, std) within Z standard errors (CLT; var(s) ~ std^2 / (2n))."""
    n = samples.numel()
    assert abs(samples.mean().item() - mean) < Z * std / math.sqrt(n)
    assert abs(samples.std().item() - std) < Z * std / math.sqrt(2 * n)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_forward_moments_for_fixed_and_gaussian_x0(schedule):
    """Rows use two different times (t broadcast per sample): x_t | x0=c ~ N(alpha c, sigma^2);
    x0 ~ N(mu, s^2) gives x_t ~ N(alpha mu, alpha^2 s^2 + sigma^2)."""
    path = GaussianPath(schedule)
    gen = torch.Generator().manual_seed(1)
    times = torch.tensor([0.25, 0.7], dtype=torch.float64)
    t = times.repeat_interleave(2)  # [4]: rows 0-1 at 0.25, rows 2-3 at 0.7
    like = torch.empty(4, 20000, dtype=torch.float64)
    c, mu, s = 1.3, -0.4, 0.6
    fixed = path.corrupt(torch.full_like(like, c), t, path.noise(like, generator=gen))
    x0 = mu + s * torch.randn(like.shape, generator=gen, dtype=like.dtype)
    gaussian = path.corrupt(x0, t, path.noise(like, generator=gen))
    for i, time in enumerate(times):
        alpha, sigma = schedule.alpha(time).item(), schedule.sigma(time).item()
        check_moments(fixed[2 * i: 2 * i + 2], alpha * c, sigma)
        check_moments(gaussian[2 * i: 2 * i + 2], alpha * mu, math.sqrt(alpha**2 * s**2 + sigma**2))


def random_pair(shape=(3, 5), seed=0):
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randn(shape, generator=gen, dtype=torch.float64)
    eps = torch.randn(shape, generator=gen, dtype=torch.float64)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    return x0, eps, t


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize(("source", "target"), list(itertools.product(PREDICTIONS, PREDICTIONS)))
def test_conversion_maps_each_target_to_the_other(schedule, source, target):
    path = GaussianPath(schedule)
    x0, eps, t = random_pair()
    x_t = path.corrupt(x0, t, eps)
    converted = path.convert(path.target(source, x0, eps, t), x_t, t, source, target)
    torch.testing.assert_close(converted, path.target(target, x0, eps, t), rtol=1e-9, atol=1e-9)
    back = path.convert(converted, x_t, t, target, source)
    torch.testing.assert_close(back, path.target(source, x0, eps, t), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("source", PREDICTIONS)
def test_score_is_minus_eps_over_sigma(schedule, source):
    path = GaussianPath(schedule)
    x0, eps, t = random_pair()
    x_t = path.corrupt(x0, t, eps)
    score = path.convert(path.target(source, x0, eps, t), x_t, t, source, "score")
    torch.testing.assert_close(score, -eps / schedule.sigma(t)[:, None], rtol=1e-9, atol=1e-9)


def test_hand_formulas_for_targets():
    x0, eps, t = random_pair()
    tt = t[:, None]
    torch.testing.assert_close(GaussianPath(LinearFlow()).target("velocity", x0, eps, t), eps - x0)
    torch.testing.assert_close(GaussianPath(LinearFlow()).target("v", x0, eps, t), (1 - tt) * eps - tt * x0)
    cosine = VPCosine()
    alpha, sigma = cosine.alpha(tt), cosine.sigma(tt)
    v = alpha * eps - sigma * x0
    torch.testing.assert_close(GaussianPath(cosine).target("v", x0, eps, t), v)
    # VP cosine: theta = a t + b, so d/dt (cos theta x0 + sin theta eps) = a v
    torch.testing.assert_close(GaussianPath(cosine).target("velocity", x0, eps, t), cosine._a * v)
    # VE: x0 from eps is x_t - sigma eps
    ve = GaussianPath(VE())
    x_t = ve.corrupt(x0, t, eps)
    torch.testing.assert_close(ve.convert(eps, x_t, t, "eps", "x0"), x_t - VE().sigma(tt) * eps)


def test_unknown_prediction_names_the_value():
    path = GaussianPath(VPCosine())
    x = torch.zeros(2, 3)
    with pytest.raises(ConfigError, match="'epsilon'.*choose one of: eps, v, velocity, x0"):
        path.convert(x, x, 0.5, "epsilon", "x0")


def padded_batch(seed=0):
    """B=3 clouds of 5, 3, 1 real nodes, padded to N=5 with garbage in the padding."""
    gen = torch.Generator().manual_seed(seed)
    x = 10 * torch.randn(3, 5, 3, generator=gen, dtype=torch.float64) + 4.0
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [0, 0, 0, 1, 0]], dtype=torch.bool)
    return x, {"node_mask": mask}


def masked_mean(x, mask):
    w = mask.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(-2) / w.sum(-2)


def test_zero_center_of_mass_projection():
    x, context = padded_batch()
    mask = context["node_mask"]
    proj = ZeroCenterOfMass().project(x, context)
    torch.testing.assert_close(ZeroCenterOfMass().project(proj, context), proj)  # idempotent
    torch.testing.assert_close(masked_mean(proj, mask), torch.zeros(3, 3, dtype=x.dtype))
    assert (proj[~mask] == 0).all()
    # real nodes move by exactly their own sample's masked mean
    torch.testing.assert_close(proj[mask], (x - masked_mean(x, mask)[:, None])[mask])
    assert (proj[2, 3] == 0).all()  # a single real node is its own centre
    full = ZeroCenterOfMass().project(x)  # no mask: all nodes are real
    torch.testing.assert_close(full.mean(-2), torch.zeros(3, 3, dtype=x.dtype))


def test_noise_lies_in_the_zero_com_subspace_with_the_projected_variance():
    """Projected standard noise on n real nodes has per-coordinate variance (n - 1)/n."""
    path = GaussianPath(VPCosine(), ZeroCenterOfMass())
    _, context = padded_batch()
    mask = context["node_mask"].repeat(4000, 1)
    eps = path.noise(torch.empty(mask.shape[0], 5, 3, dtype=torch.float64), {"node_mask": mask},
                     generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(path.subspace.project(eps, {"node_mask": mask}), eps)
    torch.testing.assert_close(masked_mean(eps, mask), torch.zeros(mask.shape[0], 3, dtype=eps.dtype))
    assert (eps[~mask] == 0).all()
    check_moments(eps[0::3][mask[0::3]], 0.0, math.sqrt(4 / 5))
    check_moments(eps[1::3][mask[1::3]], 0.0, math.sqrt(2 / 3))
