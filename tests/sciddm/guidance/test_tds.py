"""TDS against exactly tilted models.

Gaussian: data :math:`\\mathcal N(0, I_2)`, exact denoiser, reward :math:`r(x) = x_1`; the 25-step DDPM sampler draws
:math:`\\mathcal N(0, vI)` with :math:`v` measured from plain samples, so the tilted model is
:math:`\\mathcal N((v/\\alpha, 0), vI)` (as in test_particles.py). Categorical: a product distribution over 3 tokens
of 3 classes (the factorised sampler is exact for it at any step count) with a reward that is *not* linear in the
one-hot encoding, so the first-order twist alone is biased and only the weights make TDS exact.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.guidance.particles import smc
from sciddm.guidance.tds import tds
from sciddm.paths.categorical import LogLinear
from sciddm.rewards import FunctionReward
from sciddm.sampling import Sampler
from sciddm.solvers.categorical import tempered
from tests.sciddm.categorical_targets import ExactDenoiser
from tests.sciddm.guidance.gaussian_setup import FIELD, REWARD, SAMPLER, exact_network, run
from tests.sciddm.guidance.test_categorical_gradient import product_target


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_gaussian_tds_matches_the_tilted_model_with_few_particles(model_variance, temperature):
    target = model_variance / temperature
    twisted = run(tds, particles=4, temperature=temperature).samples["x"]
    plain_smc = run(smc, particles=4, temperature=temperature).samples["x"]
    tds_error = abs(twisted[:, 0].mean().item() - target)
    assert tds_error < 0.1                                     # 600 samples: s.e. ~0.04
    assert tds_error < abs(plain_smc[:, 0].mean().item() - target)
    assert abs(twisted[:, 0].var().item() - model_variance) < 0.15 and abs(twisted[:, 1].mean().item()) < 0.12


def test_gaussian_tds_costs(model_variance):
    result = run(tds, batch=10, particles=3)
    assert result.network_evaluations == (25 + 1) * 3 and result.reward_evaluations == (25 + 1) * 3
    torch.testing.assert_close(result.rewards, result.samples["x"][:, 0])


CATEGORICAL = CategoricalField(3, "mask", LogLinear())


def matches(samples, context):
    """2 [x_0 = x_2] on tokens; its bilinear extension 2 p_0 . p_2 on probabilities."""
    x = samples["x"]
    p = x.double() if x.is_floating_point() else F.one_hot(x, 3).double()
    return 2.0 * (p[:, 0] * p[:, 2]).sum(-1)


@pytest.mark.parametrize("sampling_temperature", [1.0, 0.7])
def test_categorical_tds_corrects_the_first_order_twist(sampling_temperature):
    """With a tempered solver (``ancestral:temperature=tau``) the model TDS reweights is the tempered one: for a
    product target, the product of the tempered marginals."""
    target, marginals = product_target(seed=2)
    model = tempered(marginals, sampling_temperature)[torch.arange(3), target.states].prod(-1)
    reward = FunctionReward(matches, differentiable=True, name="matches")
    tilted = model * torch.exp(matches({"x": target.states}, {}) / 0.5)
    tilted = tilted / tilted.sum()
    network = ExactDenoiser(target, CATEGORICAL.path)
    sampler = Sampler(steps=4, categorical_solver=f"ancestral:temperature={sampling_temperature}")
    errors = []
    for particles in (1, 16):
        result = tds(network, {"x": CATEGORICAL}, {"x": torch.zeros(3000, 3, dtype=torch.long)}, {},
                     sampler, reward, particles, temperature=0.5, generator=torch.Generator().manual_seed(0))
        errors.append(float(0.5 * (target.histogram(result.samples["x"]) - tilted).abs().sum()))
    assert errors[1] < 0.04                                    # 3000 draws over 27 sequences: noise ~0.03
    assert errors[0] > errors[1] + 0.03                        # the twist alone (one particle) is biased


def test_bad_input_fails_clearly():
    flat = FunctionReward(lambda s, c: s["x"][:, 0], name="flat")
    with pytest.raises(ConfigError, match="tds needs a differentiable reward; 'flat' is not"):
        tds(exact_network, {"x": FIELD}, {"x": torch.zeros(2, 2)}, {}, SAMPLER, flat, 2)
    with pytest.raises(ConfigError, match="stochastic one-step solver"):
        tds(exact_network, {"x": FIELD}, {"x": torch.zeros(2, 2)}, {}, Sampler(solver="ddim"), REWARD, 2)
    nan = FunctionReward(lambda s, c: s["x"][:, 0] * torch.nan, differentiable=True, name="broken")
    with pytest.raises(ConfigError, match="reward 'broken' returned a non-finite value"):
        tds(exact_network, {"x": FIELD}, {"x": torch.zeros(2, 2)}, {}, SAMPLER, nan, 2)
