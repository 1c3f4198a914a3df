"""Categorical paths: schedules, forward draws, posteriors against brute-force Bayes, and the NELBO against a fine
discrete-time ELBO and the exact log-likelihood of a known toy distribution."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from sciddm.errors import ConfigError
from sciddm.paths.categorical import CategoricalPath, Cosine, LogLinear, Polynomial, prior_vector
from tests.sciddm.categorical_targets import ToySequences

K = 3
MARGINAL = [0.5, 0.3, 0.2]
SCHEDULES = [LogLinear(), Cosine(), Polynomial(3.0)]
PRIORS = ["uniform", "marginal", "mask"]


def make_path(prior: str, schedule=None) -> CategoricalPath:
    return CategoricalPath(schedule or LogLinear(), K, prior, MARGINAL if prior == "marginal" else None)


def transition(path: CategoricalPath, keep: float) -> torch.Tensor:
    """[M, M] matrix q(y | x) = keep [x = y] + (1 - keep) pi_y, written out entry by entry."""
    m = path.num_states
    return torch.tensor([[keep * (x == y) + (1 - keep) * path.pi[y].item() for y in range(m)] for x in range(m)],
                        dtype=torch.float64)


def keep(path: CategoricalPath, t: float) -> float:
    return float(path.schedule.alpha(torch.tensor(t, dtype=torch.float64)))


def brute_posterior(path, x_t: int, x0: int, t: float, s: float) -> torch.Tensor:
    """q(x_s | x_t, x0) by Bayes over the explicit transition matrices q(x_s|x0) and q(x_t|x_s)."""
    to_s, s_to_t = transition(path, keep(path, s)), transition(path, keep(path, t) / keep(path, s))
    joint = torch.tensor([to_s[x0, j] * s_to_t[j, x_t] for j in range(path.num_states)])
    return joint / joint.sum()


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
def test_schedule_end_points_and_derivative(schedule):
    t = torch.linspace(0.05, 0.95, 19, dtype=torch.float64)
    h = 1e-6
    numeric = (schedule.alpha(t + h) - schedule.alpha(t - h)) / (2 * h)
    torch.testing.assert_close(schedule.alpha_dot(t), numeric, rtol=1e-6, atol=1e-8)
    ends = schedule.alpha(torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(ends, torch.tensor([1.0, 0.0], dtype=torch.float64), atol=1e-12, rtol=0)
    assert (schedule.alpha(t)[1:] < schedule.alpha(t)[:-1]).all()


def test_priors_and_bad_marginals():
    torch.testing.assert_close(prior_vector("mask", 3), torch.tensor([0, 0, 0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(prior_vector("marginal", 3, [2, 1, 1]), torch.tensor([0.5, 0.25, 0.25],
                                                                                       dtype=torch.float64))
    for bad in ([1, 1], [1, -1, 1], None):
        with pytest.raises(ConfigError, match="marginal"):
            prior_vector("marginal", 3, bad)
    with pytest.raises(ConfigError, match="unknown categorical prior 'gauss'"):
        prior_vector("gauss", 3)


@pytest.mark.parametrize("prior", PRIORS)
def test_forward_draws_follow_the_marginal(prior):
    path = make_path(prior)
    x0 = torch.full((200_000,), 1)
    x_t = path.sample(x0, torch.full((len(x0),), 0.4), torch.Generator().manual_seed(0))
    frequency = torch.bincount(x_t, minlength=path.num_states).double() / len(x0)
    expected = path.marginal(torch.tensor([1]), 0.4).double()[0]  # 0.6 e_1 + 0.4 pi
    assert (frequency - expected).abs().max() < 4 * math.sqrt(0.25 / len(x0))


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("prior", PRIORS)
def test_exact_posterior_matches_bayes(prior, schedule):
    path = make_path(prior, schedule)
    t, s = 0.7, 0.35
    for x0, x_t in itertools.product(range(K), range(path.num_states)):
        if path.marginal(torch.tensor(x0), t)[x_t] == 0:
            continue  # x_t cannot come from x0 (an unmasked token different from x0)
        one_hot = torch.nn.functional.one_hot(torch.tensor(x0), K).double()
        closed = path.posterior(torch.tensor(x_t), one_hot, t, s)
        torch.testing.assert_close(closed, brute_posterior(path, x_t, x0, t, s), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("prior", PRIORS)
def test_posterior_under_a_predicted_distribution_matches_the_sum_over_x0(prior):
    """sum_x0 p(x0) q(x_s|x_t,x0) over the x0 that can produce x_t, renormalised, for an arbitrary p."""
    path = make_path(prior, Cosine())
    t, s = 0.8, 0.3
    generator = torch.Generator().manual_seed(1)
    for x_t in range(path.num_states):
        p = torch.rand(K, generator=generator, dtype=torch.float64)
        p = p / p.sum()
        compatible = [x0 for x0 in range(K) if path.marginal(torch.tensor(x0), t)[x_t] > 0]
        expected = sum(p[x0] * brute_posterior(path, x_t, x0, t, s) for x0 in compatible)
        expected = expected / sum(p[x0] for x0 in compatible)
        torch.testing.assert_close(path.posterior(torch.tensor(x_t), p, t, s), expected, rtol=1e-12, atol=1e-14)


def test_posterior_of_an_impossible_state_is_zero_with_a_finite_gradient():
    """x_t = class 2 has zero prior mass and zero predicted mass: an all-zero row, finite zero gradients, and the
    possible rows are unchanged (they still match the sum over x0)."""
    path = CategoricalPath(Cosine(), 4, "marginal", [0.5, 0.5, 0.0, 0.0])
    logits = torch.tensor([[3.0, -1.0, 0.0, 2.0], [0.5, 0.2, 0.0, -0.3]], requires_grad=True)
    probs = torch.softmax(logits, -1) * torch.tensor([1.0, 1.0, 0.0, 1.0])
    x_t = torch.tensor([2, 0])
    posterior = path.posterior(x_t, probs, 0.5, 0.3)
    (posterior * torch.tensor([[1e3, -2e3, 5e2, 7.0], [1.0, 2.0, 3.0, 4.0]])).sum().backward()
    assert torch.equal(posterior[0], torch.zeros(4))
    assert torch.isfinite(logits.grad).all() and torch.equal(logits.grad[0], torch.zeros(4))
    torch.testing.assert_close(posterior[1].sum(), torch.tensor(1.0))


@pytest.mark.parametrize("prior", PRIORS)
def test_posterior_under_the_true_denoiser_is_the_marginal_reverse_transition(prior):
    """With p(x0|x_t) the exact Bayes posterior, sum_x0 p(x0|x_t) q(x_s|x_t,x0) = q(x_s|x_t)."""
    path = make_path(prior)
    data = torch.tensor([0.6, 0.1, 0.3], dtype=torch.float64)
    t, s = 0.55, 0.2
    q_s = data @ transition(path, keep(path, s))[:K]  # q(x_s)
    s_to_t = transition(path, keep(path, t) / keep(path, s))
    for x_t in range(path.num_states):
        reverse = q_s * s_to_t[:, x_t]
        reverse = reverse / reverse.sum()
        denoiser = data * transition(path, keep(path, t))[:K, x_t]
        torch.testing.assert_close(path.posterior(torch.tensor(x_t), denoiser / denoiser.sum(), t, s), reverse)


# ------------------------------------------------------------------------------------------- NELBO
def toy_model(path: CategoricalPath, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """An arbitrary smooth p_theta(x0 | x_t, t) [..., K], with carry-over of unmasked tokens for the mask prior."""
    generator = torch.Generator().manual_seed(3)
    base, slope = (torch.randn(path.num_states, K, generator=generator, dtype=torch.float64) for _ in range(2))
    probs = torch.softmax(base[x_t] + t[..., None] * slope[x_t], -1)
    if path.mask_index is not None:
        probs = torch.where((x_t == path.mask_index)[..., None], probs,
                            torch.nn.functional.one_hot(x_t.clamp_max(K - 1), K).double())
    return probs


def expected_over_states(path, x0: int, t: torch.Tensor, fn) -> torch.Tensor:
    """E_{x_t ~ q(.|x0)} fn(x_t) at each time of ``t`` [T] by enumeration over the M states."""
    total = torch.zeros_like(t)
    for x_t in range(path.num_states):
        weight = path.marginal(torch.full_like(t, x0, dtype=torch.long), t)[:, x_t].double()
        state = torch.full_like(t, x_t, dtype=torch.long)
        total = total + torch.where(weight > 0, weight * fn(state), 0.0)
    return total


def continuous_nelbo(path, x0: int, t_min: float, nodes: int = 400) -> float:
    u, w = np.polynomial.legendre.leggauss(nodes)
    t = torch.tensor(t_min + (1 - t_min) * (u + 1) / 2)
    x0s = torch.full_like(t, x0, dtype=torch.long)
    integrand = expected_over_states(path, x0, t, lambda x_t: path.nelbo(x_t, x0s, toy_model(path, x_t, t), t))
    return float((integrand * torch.tensor(w)).sum() * (1 - t_min) / 2) + reconstruction(path, x0, t_min)


def reconstruction(path, x0: int, t_min: float) -> float:
    t = torch.tensor([t_min], dtype=torch.float64)
    x0s = torch.tensor([x0])
    return float(expected_over_states(path, x0, t, lambda x_t: path.reconstruction(x0s, toy_model(path, x_t, t)))[0])


def discrete_nelbo(path, x0: int, t_min: float, steps: int) -> float:
    """Reconstruction + sum_i E KL(q(x_{s}|x_t,x0) || p_theta(x_s|x_t)) on a uniform grid t_min..1 (prior KL = 0)."""
    grid = torch.linspace(t_min, 1.0, steps + 1, dtype=torch.float64)
    s, t = grid[:-1], grid[1:]
    x0_onehot = torch.nn.functional.one_hot(torch.full_like(t, x0, dtype=torch.long), K).double()

    def kl(x_t):
        truth = path.posterior(x_t, x0_onehot, t, s)
        model = path.posterior(x_t, toy_model(path, x_t, t), t, s)
        return (torch.xlogy(truth, truth) - torch.xlogy(truth, model)).sum(-1)

    return float(expected_over_states(path, x0, t, kl).sum()) + reconstruction(path, x0, t_min)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=repr)
@pytest.mark.parametrize("prior", PRIORS)
def test_continuous_nelbo_is_the_limit_of_the_discrete_elbo(prior, schedule):
    path = make_path(prior, schedule)
    for x0 in range(K):
        continuous = continuous_nelbo(path, x0, 1e-3)
        coarse, fine = discrete_nelbo(path, x0, 1e-3, 16_000), discrete_nelbo(path, x0, 1e-3, 64_000)
        assert abs(fine - continuous) < 0.3 * abs(coarse - continuous) + 1e-9  # O(1/steps) convergence
        extrapolated = (4 * fine - coarse) / 3  # Richardson: cancels the O(1/steps) term
        assert abs(extrapolated - continuous) < 5e-5 * continuous


def test_mask_nelbo_is_the_generic_bound_with_carry_over():
    """MDLM's weighted cross-entropy equals the general CTMC bound for an absorbing prior written as a
    'marginal' prior concentrated on an extra class."""
    path = make_path("mask", Cosine())
    absorbing = CategoricalPath(Cosine(), K + 1, "marginal", [0.0] * K + [1.0])
    generator = torch.Generator().manual_seed(4)
    x0 = torch.randint(K, (500,), generator=generator)
    t = torch.rand(500, generator=generator, dtype=torch.float64) * 0.98 + 0.01
    x_t = path.sample(x0, t, generator)
    probs = toy_model(path, x_t, t)
    general = absorbing.nelbo(x_t, x0, torch.nn.functional.pad(probs, (0, 1)), t)
    torch.testing.assert_close(path.nelbo(x_t, x0, probs, t), general, rtol=1e-10, atol=1e-12)
    assert (general[x_t != K] == 0).all() and (general[x_t == K] > 0).all()


def exact_sequence_nelbo(path, target: ToySequences, denoiser, t_min: float = 1e-4, nodes: int = 200) -> torch.Tensor:
    """NELBO (nats) of every toy sequence by enumeration over all noisy sequences and Gauss-Legendre in t."""
    noisy = torch.tensor(list(itertools.product(range(path.num_states), repeat=target.length)))  # [N, L]
    u, w = np.polynomial.legendre.leggauss(nodes)
    times = t_min + (1 - t_min) * (torch.tensor(u) + 1) / 2
    weights = torch.tensor(w) * (1 - t_min) / 2
    result = torch.zeros(len(target.states), dtype=torch.float64)
    for t, weight in [*zip(times.tolist(), weights.tolist(), strict=True), (t_min, None)]:
        t_batch = torch.full((len(noisy),), t, dtype=torch.float64)
        probs = denoiser(noisy, t_batch)  # [N, L, K]
        for index, x0 in enumerate(target.states):
            q = path.marginal(x0, t).double()  # [L, M]
            likelihood = q[torch.arange(target.length), noisy].prod(-1)  # [N]
            x0s = x0.expand(len(noisy), -1)
            if weight is None:
                term = path.reconstruction(x0s, probs).sum(-1)
            else:
                term = weight * path.nelbo(noisy, x0s, probs, t_batch).sum(-1)
            result[index] += (likelihood * term).sum()
    return result


def carry_over(path, noisy, probs):
    if path.mask_index is None:
        return probs
    kept = noisy != path.mask_index
    return torch.where(kept[..., None], torch.nn.functional.one_hot(noisy.clamp_max(K - 1), K).double(), probs)


@pytest.mark.parametrize("prior", ["mask", "uniform"])
def test_nelbo_of_the_exact_denoiser_is_the_exact_nll_and_a_bound_for_others(prior):
    """Continuous time with exact per-token posteriors is tight (the reverse CTMC is exact), so the NELBO equals
    -log p(x) for every sequence; any other denoiser gives a data-averaged NELBO above the entropy."""
    target = ToySequences(num_classes=K, length=2, seed=5)
    path = make_path(prior)
    exact = exact_sequence_nelbo(path, target, lambda x, t: target.posterior_marginals(path, x, t))
    torch.testing.assert_close(exact, -target.probs.log(), rtol=0, atol=2e-3)

    def blurred(x, t):
        return carry_over(path, x, 0.7 * target.posterior_marginals(path, x, t) + 0.3 / K)

    loose = exact_sequence_nelbo(path, target, blurred)
    assert float(target.probs @ loose) > target.entropy + 0.05
