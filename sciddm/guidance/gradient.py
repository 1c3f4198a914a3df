r"""Gradient guidance through the clean-data estimate, for continuous fields.

Reconstruction guidance (Ho et al. 2022) and DPS (Chung et al. 2023) steer with
:math:`\nabla_{x_t}\,\mathcal L(\hat x_0(x_t))` for a differentiable objective :math:`\mathcal L` (a
measurement misfit :math:`\tfrac12\|A\hat x_0 - y\|^2`, or minus a differentiable reward for classifier
guidance). Here the estimate itself is corrected,

.. math:: \tilde x_0 = \hat x_0(x_t) - \zeta_i\,\nabla_{x_t}\mathcal L_i(\hat x_0(x_t)),\qquad
          \zeta_i = \zeta \;\text{(plain)}\quad\text{or}\quad \zeta/\sqrt{2\mathcal L_i}\;\text{(DPS step size)},

so every solver applies the guidance through its usual update, unchanged. Costs one backward pass through
the network per evaluation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sciddm.sampling import Estimator

Objective = Callable[[dict[str, Tensor]], Tensor]


class GradientGuidance:
    """Estimator wrapper: correct ``field``'s estimate by the gradient of ``objective`` (per-sample [B], lower
    is better) with respect to the noisy state."""

    def __init__(self, field: str, objective: Objective, scale: float, dps_normalize: bool = False):
        self.field = field
        self.objective = objective
        self.scale = scale
        self.dps_normalize = dps_normalize

    def __call__(self, estimate: Estimator) -> Estimator:
        def guided(state: dict[str, Tensor], t: float) -> dict[str, Tensor]:
            with torch.enable_grad():
                x = state[self.field].detach().requires_grad_(True)
                estimates = estimate({**state, self.field: x}, t)
                losses = self.objective(estimates)
                (gradient,) = torch.autograd.grad(losses.sum(), x)
            step = torch.full_like(losses, self.scale)
            if self.dps_normalize:
                step = self.scale / torch.sqrt(2.0 * losses.detach()).clamp_min(1e-8)
            step = step.reshape(step.shape + (1,) * (gradient.ndim - 1))
            out = {name: value.detach() for name, value in estimates.items()}
            out[self.field] = out[self.field] - step * gradient
            return out

        return guided


def masked_misfit(field: str, observed: Tensor, mask: Tensor) -> Objective:
    r""":math:`\tfrac12\|M\odot(\hat x_0 - y)\|^2` per sample: the objective of inpainting-type inverse problems."""

    def objective(estimates: dict[str, Tensor]) -> Tensor:
        residual = mask * (estimates[field] - observed)
        return 0.5 * residual.pow(2).flatten(1).sum(dim=1)

    return objective
