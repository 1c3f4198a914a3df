"""Closed-form denoisers and probability-flow solutions for Gaussian and Gaussian-mixture data (test oracles)."""

from __future__ import annotations

import torch
from torch import Tensor

from sciddm.paths.gaussian import GaussianPath


def gaussian_denoiser(path: GaussianPath, mean: float, std: float):
    r"""Exact :math:`E[x_0\mid x_t]` for :math:`x_0\sim\mathcal N(\mu, s^2 I)`:
    :math:`\mu + \frac{\alpha s^2}{\alpha^2 s^2+\sigma^2}(x_t-\alpha\mu)`."""

    def denoise(x: Tensor, t: float) -> Tensor:
        alpha, sigma = path.coefficients(t, x)
        return mean + alpha * std**2 / (alpha**2 * std**2 + sigma**2) * (x - alpha * mean)

    return denoise


def gaussian_flow(path: GaussianPath, x_t: Tensor, t: float, s: float, mean: float, std: float) -> Tensor:
    r"""Exact probability-flow map :math:`x_t\mapsto x_s`: the standardised residual is conserved."""
    a_t, s_t = path.coefficients(t, x_t)
    a_s, s_s = path.coefficients(s, x_t)
    scale = torch.sqrt((a_s**2 * std**2 + s_s**2) / (a_t**2 * std**2 + s_t**2))
    return a_s * mean + scale * (x_t - a_t * mean)
