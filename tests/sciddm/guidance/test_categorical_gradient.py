"""Categorical gradient guidance against brute force on 3 tokens over 3 classes (27 sequences).

* The guided transition equals the one obtained by enumerating all 27 clean sequences with the reward replaced by
  its first-order expansion around the prediction (directional derivatives by finite differences, no autograd).
* For a product distribution and a reward linear in the one-hot encoding the tilt is exact, so guided samples
  follow :math:`p(x)e^{r(x)/\\alpha}` (checked against the enumerated tilted distribution).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.guidance.categorical_gradient import CategoricalGradientGuidance
from sciddm.paths.categorical import LogLinear
from sciddm.rewards import FunctionReward
from sciddm.sampling import Sampler, make_estimator, sample_fields
from tests.sciddm.categorical_targets import ExactDenoiser, ToySequences

K, L, MASK = 3, 3, 3
FIELD = CategoricalField(K, "mask", LogLinear())


def nonlinear(samples, context):
    p = samples["x"].double()
    return p[:, 0, 0] * p[:, 2, 1] + 0.5 * torch.sin(3 * p[:, 1, 2]) + (p[:, 0] * p[:, 2]).sum(-1) ** 2


NONLINEAR = FunctionReward(nonlinear, differentiable=True, name="nonlinear")


def test_guided_transition_equals_the_brute_force_first_order_tilt():
    target = ToySequences(K, L, concentration=0.5, seed=3)
    network = ExactDenoiser(target, FIELD.path)
    x_t = torch.tensor([[MASK, 1, MASK], [MASK, MASK, MASK], [0, MASK, 2]])
    t, s, scale = 0.6, 0.35, 1.7
    state = {"x": x_t}
    estimate = make_estimator(network, {"x": FIELD}, {})
    guided = CategoricalGradientGuidance("x", NONLINEAR, scale, {})(estimate)(state, t)["x"]
    transition = FIELD.path.posterior(x_t, guided.double(), t, s)

    p_hat = estimate(state, t)["x"].double()                                    # [B, L, K]
    one_hot = F.one_hot(target.states, K).double()                               # [S, L, K]
    h = 1e-5
    for b in range(len(x_t)):
        direction = one_hot - p_hat[b]                                           # e_{x0} - p_hat, per sequence
        plus = NONLINEAR({"x": p_hat[b] + h * direction}, {})
        minus = NONLINEAR({"x": p_hat[b] - h * direction}, {})
        first_order = (plus - minus) / (2 * h)                                   # r_lin(x0) - r(p_hat)
        prior = p_hat[b][torch.arange(L), target.states].prod(-1)               # prod_i p_hat_i(x0_i)
        joint = prior * torch.exp(scale * first_order)
        joint = joint / joint.sum()
        exact_bridge = FIELD.path.posterior(x_t[b].expand(len(target.states), L), one_hot, t, s)  # [S, L, M]
        brute = torch.einsum("s,slm->lm", joint, exact_bridge)
        torch.testing.assert_close(transition[b], brute, atol=1e-8, rtol=1e-6)
    plain = FIELD.path.posterior(x_t, p_hat, t, s)
    assert (transition - plain).abs().max() > 0.05                               # the tilt does something


def product_target(seed: int = 1) -> tuple[ToySequences, torch.Tensor]:
    target = ToySequences(K, L, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    marginals = torch.rand(L, K, generator=generator, dtype=torch.float64) + 0.2
    marginals = marginals / marginals.sum(-1, keepdim=True)
    target.probs = marginals[torch.arange(L), target.states].prod(-1)
    return target, marginals


def test_linear_reward_guidance_samples_the_exactly_tilted_distribution():
    target, _ = product_target()
    weights = torch.tensor([[1.0, -0.5, 0.0], [0.0, 0.8, -1.0], [-0.7, 0.0, 0.9]])
    alpha = 0.5
    def linear(samples, context):  # sum_i W[i, x_i] on tokens, sum_ij W_ij p_ij on probabilities
        x = samples["x"]
        return torch.einsum("blk,lk->b", x.float() if x.is_floating_point() else F.one_hot(x, K).float(), weights)

    reward = FunctionReward(linear, differentiable=True, name="linear")
    one_hot = F.one_hot(target.states, K).float()
    tilted = target.probs * torch.exp(reward({"x": one_hot}, {}).double() / alpha)
    tilted = tilted / tilted.sum()
    torch.testing.assert_close(reward({"x": target.states}, {}), reward({"x": one_hot}, {}))

    n = 5000
    network = ExactDenoiser(target, FIELD.path)
    template = {"x": torch.zeros(n, L, dtype=torch.long)}
    guidance = CategoricalGradientGuidance("x", reward, 1.0 / alpha, {})
    samples, nfe = sample_fields(network, {"x": FIELD}, template, {}, Sampler(steps=6), torch.Generator()
                                 .manual_seed(0), guidance=[guidance])
    plain, _ = sample_fields(network, {"x": FIELD}, template, {}, Sampler(steps=6), torch.Generator().manual_seed(0))
    guided_tv = 0.5 * (target.histogram(samples["x"]) - tilted).abs().sum()
    plain_tv = 0.5 * (target.histogram(plain["x"]) - tilted).abs().sum()
    assert nfe == 6
    assert guided_tv < 0.04          # 5000 draws over 27 sequences: sampling noise ~0.025
    assert plain_tv > 0.25           # the tilt is large: unguided samples are far from the target


def test_bad_rewards_fail_clearly():
    with pytest.raises(ConfigError, match="needs a differentiable reward; 'flat' is not"):
        CategoricalGradientGuidance("x", FunctionReward(lambda s, c: s["x"].sum((1, 2)), name="flat"), 1.0, {})
    network = ExactDenoiser(ToySequences(K, L), FIELD.path)
    for reward, message in [
        (FunctionReward(lambda s, c: s["x"].sum((1, 2)) * torch.nan, True, "broken"), "returned a non-finite value"),
        (FunctionReward(lambda s, c: s["x"].sum(2), True, "vector"), r"must return a tensor of shape \(4,\)"),
    ]:
        guidance = CategoricalGradientGuidance("x", reward, 1.0, {})
        with pytest.raises(ConfigError, match=message):
            sample_fields(network, {"x": FIELD}, {"x": torch.zeros(4, L, dtype=torch.long)}, {}, Sampler(steps=3),
                          guidance=[guidance])
