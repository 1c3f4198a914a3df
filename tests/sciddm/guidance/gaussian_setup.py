"""Shared setup of the particle-method tests: N(0, I_2) data, its exact denoiser, a linear reward, DDPM sampling."""

from __future__ import annotations

import torch

from sciddm.fields import GaussianField
from sciddm.rewards import FunctionReward
from sciddm.sampling import Sampler
from sciddm.schedules import VPCosine

FIELD = GaussianField(VPCosine(), prediction="x0")
SAMPLER = Sampler(solver="ddpm", steps=25, grid="uniform")
REWARD = FunctionReward(lambda samples, context: samples["x"][:, 0], differentiable=True, name="first_coordinate")


def exact_network(inputs, t, context):
    x = inputs["x"]
    alpha, sigma = FIELD.path.coefficients(t, x)
    return {"x": alpha / (alpha**2 + sigma**2) * x}


def run(method, batch=600, seed=0, **kwargs):
    gen = torch.Generator().manual_seed(seed)
    return method(exact_network, {"x": FIELD}, {"x": torch.zeros(batch, 2)}, {}, SAMPLER, REWARD,
                  generator=gen, **kwargs)
