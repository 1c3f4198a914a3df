r"""Euler for the probability-flow ODE and Euler-Maruyama for the reverse SDE, in the time variable ``t``.

Probability-flow ODE (the flow-matching velocity):
:math:`\frac{dx}{dt} = u(x,t) = \dot\alpha\,\hat x_0 + \dot\sigma\,\hat\varepsilon`.

Reverse SDE for the forward SDE :math:`dx = f x\,dt + g\,dw` with :math:`f=\dot\alpha/\alpha` and
:math:`g^2 = \tfrac{d\sigma^2}{dt} - 2f\sigma^2`:
:math:`dx = (f x - g^2\nabla\log p_t)\,dt + g\,d\bar w`, :math:`\nabla\log p_t = -\hat\varepsilon/\sigma`.
Both are first order (Euler-Maruyama: strong order 1/2). The SDE is singular where :math:`\alpha=0`.
"""

from __future__ import annotations

import math

from torch import Tensor

from sciddm.errors import ConfigError
from sciddm.paths.gaussian import GaussianPath
from sciddm.solvers.base import Denoise, Noise, Solver, scalar_coefficients, scalar_derivatives


def velocity(path: GaussianPath, x: Tensor, t: float, x0: Tensor) -> Tensor:
    """:math:`u = \\dot\\alpha\\hat x_0 + \\dot\\sigma\\hat\\varepsilon` at time ``t``."""
    alpha, sigma = scalar_coefficients(path, t)
    alpha_dot, sigma_dot = scalar_derivatives(path, t)
    return alpha_dot * x0 + sigma_dot * (x - alpha * x0) / sigma


class Euler(Solver):
    """Explicit Euler on the probability-flow ODE: :math:`x_s = x_t + (s-t)\\,u(x_t,t)`."""

    def update(self, path: GaussianPath, x: Tensor, t: float, s: float, x0: Tensor, noise: Noise) -> Tensor:
        return x + (s - t) * velocity(path, x, t, x0)


class Heun(Solver):
    """Heun's second-order method (trapezoidal corrector) on the probability-flow ODE; 2 evaluations/step.

    :math:`\\tilde x = x_t + h\\,u(x_t,t)`, :math:`x_s = x_t + \\tfrac h2\\,(u(x_t,t) + u(\\tilde x,s))`, ``h = s - t``.
    """

    evals_per_step = 2

    def step(self, path: GaussianPath, denoise: Denoise, x: Tensor, t: float, s: float, noise: Noise) -> Tensor:
        u_t = velocity(path, x, t, denoise(x, t))
        guess = x + (s - t) * u_t
        u_s = velocity(path, guess, s, denoise(guess, s))
        return x + 0.5 * (s - t) * (u_t + u_s)


class EulerMaruyama(Solver):
    """Euler-Maruyama on the reverse-time SDE (score-SDE sampler, no corrector)."""

    stochastic = True

    def update(self, path: GaussianPath, x: Tensor, t: float, s: float, x0: Tensor, noise: Noise) -> Tensor:
        alpha, sigma = scalar_coefficients(path, t)
        if alpha <= 0.0:
            raise ConfigError("euler_maruyama needs alpha(t_max) > 0 (the reverse SDE is singular at alpha=0); "
                              "pass t_max < 1 for the linear flow path")
        alpha_dot, sigma_dot = scalar_derivatives(path, t)
        f = alpha_dot / alpha
        g2 = 2.0 * sigma * sigma_dot - 2.0 * f * sigma**2
        score = -(x - alpha * x0) / sigma**2
        dt = t - s
        return x - dt * (f * x - g2 * score) + math.sqrt(max(g2, 0.0) * dt) * noise()
