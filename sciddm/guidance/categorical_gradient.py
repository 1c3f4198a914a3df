r"""Gradient guidance for categorical fields: the first-order (Taylor) tilt over one-hot inputs.

For a categorical field the network predicts a factorised clean-data distribution :math:`\hat p_i(j) =
p_\theta(x_0^i{=}j\mid x_t)` and every categorical solver moves :math:`x_t\to x_s` through the posterior
:math:`\sum_{x_0}p(x_0\mid x_t)\,q(x_s\mid x_t,x_0)`. Guiding toward :math:`p_\theta(x)\exp(r(x)/\alpha)` exactly
would replace :math:`p(x_0\mid x_t)` by :math:`p(x_0\mid x_t)\exp(r(x_0)/\alpha)` (a function of :math:`x_0` alone
leaves the bridge :math:`q(x_s\mid x_t,x_0)` unchanged), which no longer factorises. Expanding the reward to
first order in the one-hot encoding :math:`e_{x_0}` around the prediction :math:`\hat p`,

.. math:: r(e_{x_0}) \approx r(\hat p) + \sum_i \nabla_{\hat p_i} r(\hat p)\cdot(e_{x_0^i} - \hat p_i),

keeps it factorised: each token's prediction is tilted independently,

.. math:: \tilde p_i(j) \propto \hat p_i(j)\,\exp\big(w\,g_{ij}\big),\qquad g = \nabla_{\hat p}\, r(\hat p),

with scale :math:`w = 1/\alpha`. This is the DPS analogue for discrete data (reward read on the predicted
:math:`x_0`; cf. Chung et al. 2023, and the Taylor-approximated guidance of Nisonoff et al. 2024, which expands
around the noisy :math:`x_t` instead); it is exact for rewards linear in the one-hot encoding (e.g. a sum of
per-position scores). Tokens carried over unchanged (mask prior) have a one-hot prediction and stay as they are.
The reward must accept probability vectors ``[..., K]`` (``differentiable = True``). Cost: one reward
gradient per step and no extra network evaluation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sciddm.errors import ConfigError
from sciddm.fields import Context
from sciddm.rewards import Reward, score
from sciddm.sampling import Estimator


def reward_gradient(reward: Reward, estimates: dict[str, Tensor], context: Context, field: str
                    ) -> tuple[Tensor, Tensor]:
    """``(r(estimates) [B], d r / d estimates[field])`` with the other fields held fixed."""
    if not reward.differentiable:
        raise ConfigError(f"gradient guidance needs a differentiable reward; {reward.name!r} is not")
    with torch.enable_grad():
        probs = estimates[field].detach().requires_grad_(True)
        inputs = {name: value.detach() for name, value in estimates.items()}
        values = score(reward, {**inputs, field: probs}, context, probs.shape[0])
        (gradient,) = torch.autograd.grad(values.sum(), probs)
    if not torch.isfinite(gradient).all():
        raise ConfigError(f"reward {reward.name!r} has a non-finite gradient")
    return values.detach(), gradient


def tilt(probs: Tensor, gradient: Tensor, scale: float | Tensor) -> Tensor:
    r""":math:`\tilde p \propto p\,\exp(w\,g)` over the last axis; zero-probability classes stay at zero.

    ``scale`` is a number or a per-sample tensor [B].
    """
    scale = torch.as_tensor(scale, dtype=probs.dtype, device=probs.device)
    scale = scale.reshape(scale.shape + (1,) * (probs.ndim - scale.ndim))
    logits = torch.where(probs > 0, probs.clamp_min(torch.finfo(probs.dtype).tiny).log() + scale * gradient,
                         -torch.inf)
    return torch.softmax(logits, dim=-1)


class CategoricalGradientGuidance:
    """Estimator wrapper tilting ``field``'s predicted distribution by :math:`\\exp(w\\,\\nabla r)` (module docs).

    ``context`` is the sampling context the reward reads (the same one passed to the sampler).
    """

    def __init__(self, field: str, reward: Reward, scale: float, context: Context):
        if not reward.differentiable:
            raise ConfigError(f"gradient guidance needs a differentiable reward; {reward.name!r} is not")
        self.field = field
        self.reward = reward
        self.scale = scale
        self.context = context

    def __call__(self, estimate: Estimator) -> Estimator:
        def guided(state: dict[str, Tensor], t: float) -> dict[str, Tensor]:
            estimates = estimate(state, t)
            _, gradient = reward_gradient(self.reward, estimates, self.context, self.field)
            return {**estimates, self.field: tilt(estimates[self.field], gradient, self.scale)}

        return guided
