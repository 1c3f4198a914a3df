r"""DDIM (Song et al. 2021) and DDPM ancestral sampling for any Gaussian path.

With :math:`\hat\varepsilon = (x_t - \alpha_t\hat x_0)/\sigma_t`,

.. math:: x_s = \alpha_s\hat x_0 + \sqrt{\sigma_s^2 - c^2}\,\hat\varepsilon + c\,z,\qquad
          c = \eta\,\sigma_s\sqrt{1 - e^{\lambda_t-\lambda_s}},

where :math:`e^{\lambda_t-\lambda_s} = (\alpha_t\sigma_s)^2/(\alpha_s\sigma_t)^2`. :math:`\eta=0` is the
deterministic first-order solver of the probability-flow ODE (exact for :math:`\hat x_0` constant in
:math:`\lambda`); :math:`\eta=1` draws from the exact posterior :math:`q(x_s\mid x_t,\hat x_0)`, i.e. DDPM.
"""

from __future__ import annotations

import math

from torch import Tensor

from sciddm.paths.gaussian import GaussianPath
from sciddm.solvers.base import Noise, Solver, scalar_coefficients


class DDIM(Solver):
    """DDIM with stochasticity ``eta`` in [0, 1]."""

    def __init__(self, eta: float = 0.0):
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"DDIM eta must lie in [0, 1], got {eta}")
        self.eta = eta
        self.stochastic = eta > 0

    def update(self, path: GaussianPath, x: Tensor, t: float, s: float, x0: Tensor, noise: Noise) -> Tensor:
        alpha_t, sigma_t = scalar_coefficients(path, t)
        alpha_s, sigma_s = scalar_coefficients(path, s)
        eps = (x - alpha_t * x0) / sigma_t
        ratio = (alpha_t * sigma_s) ** 2 / ((alpha_s * sigma_t) ** 2)
        c = self.eta * sigma_s * math.sqrt(max(0.0, 1.0 - ratio))
        out = alpha_s * x0 + math.sqrt(max(0.0, sigma_s**2 - c**2)) * eps
        return out + c * noise() if c > 0 else out


class DDPM(DDIM):
    """Ancestral sampling from the Gaussian posterior: DDIM with ``eta = 1``."""

    def __init__(self):
        super().__init__(eta=1.0)
