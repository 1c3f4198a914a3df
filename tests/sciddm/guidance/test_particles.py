"""Particle methods against the exactly known reward-tilted distribution.

Data :math:`x_0\\sim\\mathcal N(0, I_2)` with the exact denoiser and the linear reward :math:`r(x) = x_1`. The few-step
DDPM sampler itself draws from :math:`\\mathcal N(0, v I)` with :math:`v` slightly below 1 (measured below from plain
samples), so the exact tilted law :math:`p(x)e^{r(x)/\\alpha}` of the model is :math:`\\mathcal N((v/\\alpha, 0), vI)`.
For Gaussian data the posterior
variance of :math:`x_0` given :math:`x_t` does not depend on :math:`x_t`, so :math:`r(\\hat x_0)` is the exact soft
value up to a constant and SVDD with soft selection is exact too as candidates grow.
"""

from __future__ import annotations

import pytest
import torch

from sciddm.errors import ConfigError
from sciddm.guidance.particles import best_of_n, smc, svdd
from sciddm.rewards import FunctionReward
from sciddm.sampling import Sampler
from tests.sciddm.guidance.gaussian_setup import FIELD, REWARD, SAMPLER, exact_network, run


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_smc_converges_to_the_tilted_model(model_variance, temperature):
    target = model_variance / temperature
    errors = []
    for particles in (1, 4, 64):
        x = run(smc, particles=particles, temperature=temperature).samples["x"]
        errors.append(abs(x[:, 0].mean().item() - target))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.15 * target + 0.05        # 600 samples: s.e. ~0.04, plus finite-particle bias
    assert abs(x[:, 0].var().item() - model_variance) < 0.2 and abs(x[:, 1].mean().item()) < 0.12


def test_svdd_soft_selection_approaches_the_tilted_model_and_greedy_overshoots(model_variance):
    soft = run(svdd, candidates=32, temperature=1.0)
    assert abs(soft.samples["x"][:, 0].mean().item() - model_variance) < 0.15
    greedy = run(svdd, candidates=8, temperature=0.0)
    assert greedy.samples["x"][:, 0].mean().item() > soft.samples["x"][:, 0].mean().item()


def test_costs_are_reported_per_sample():
    steps, nfe_plain = 25, 25 + 1  # VP cosine: sigma(t_min) > 0 adds one final evaluation
    result = run(best_of_n, batch=10, n=4)
    assert result.network_evaluations == nfe_plain * 4 and result.reward_evaluations == 4
    assert torch.equal(result.rewards, result.samples["x"][:, 0])
    result = run(smc, batch=10, particles=3)
    assert result.network_evaluations == nfe_plain * 3 and result.reward_evaluations == (steps + 1) * 3
    result = run(svdd, batch=10, candidates=5)
    assert result.network_evaluations == 1 + steps * 5 and result.reward_evaluations == steps * 5 + 1


def test_best_of_n_keeps_the_best_of_independent_draws():
    result = run(best_of_n, batch=400, n=8)
    # E[max of 8 standard normals] = 1.4236
    assert abs(result.samples["x"][:, 0].mean().item() - 1.4236) < 0.1


def test_bad_rewards_and_settings_fail_clearly():
    nan_reward = FunctionReward(lambda s, c: s["x"][:, 0] * float("nan"), name="broken")
    with pytest.raises(ConfigError, match="reward 'broken' returned a non-finite value"):
        best_of_n(exact_network, {"x": FIELD}, {"x": torch.zeros(4, 2)}, {}, SAMPLER, nan_reward, 2)
    wrong_shape = FunctionReward(lambda s, c: s["x"], name="vector")
    with pytest.raises(ConfigError, match=r"must return a tensor of shape \(8,\), got \(8, 2\)"):
        best_of_n(exact_network, {"x": FIELD}, {"x": torch.zeros(4, 2)}, {}, SAMPLER, wrong_shape, 2)
    with pytest.raises(ConfigError, match="stochastic one-step solver"):
        smc(exact_network, {"x": FIELD}, {"x": torch.zeros(4, 2)}, {}, Sampler(solver="dpmpp_2m"), REWARD, 4)
