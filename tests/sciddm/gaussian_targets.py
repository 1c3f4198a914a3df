"""Closed-form denoisers and probability-flow solutions for Gaussian and Gaussian-mixture data (test oracles)."""

from __future__ import annotations

import numpy as np
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


class GaussianMixture:
    r"""Isotropic Gaussian mixture :math:`p(x_0) = \sum_k w_k\,\mathcal N(\mu_k, s_k^2 I_D)` with its exact denoiser.

    Under :math:`x_t = \alpha x_0 + \sigma\varepsilon` component ``k`` gives :math:`x_t\mid k \sim
    \mathcal N(\alpha\mu_k, v_k I)`, :math:`v_k = \alpha^2 s_k^2 + \sigma^2`, hence the posterior mean

    .. math:: E[x_0\mid x_t] = \sum_k r_k(x_t)\Big(\mu_k + \frac{\alpha s_k^2}{v_k}(x_t - \alpha\mu_k)\Big),\qquad
              \log r_k = \log w_k - \tfrac D2\log v_k - \frac{\lVert x_t-\alpha\mu_k\rVert^2}{2v_k} - \text{lse},

    with the responsibilities :math:`r_k` normalised in log space (softmax), so tiny noise levels stay finite.
    """

    def __init__(self, means: Tensor, scales: Tensor, weights: Tensor):
        self.means = means  # [K, D]
        self.scales = scales  # [K]
        self.weights = weights / weights.sum()  # [K]

    @classmethod
    def random(cls, dim: int, components: int, seed: int, spread: float = 2.0,
               scale_range: tuple[float, float] = (0.05, 0.5)) -> GaussianMixture:
        """Means :math:`\\sim\\mathcal N(0, \\text{spread}^2 I)`, scales log-uniform in ``scale_range``,
        weights Dirichlet(1); all drawn from ``default_rng(seed)``, returned in float64."""
        rng = np.random.default_rng(seed)
        lo, hi = np.log(scale_range[0]), np.log(scale_range[1])
        return cls(torch.from_numpy(spread * rng.standard_normal((components, dim))),
                   torch.from_numpy(np.exp(rng.uniform(lo, hi, components))),
                   torch.from_numpy(rng.dirichlet(np.ones(components))))

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def mean(self) -> Tensor:
        return self.weights @ self.means

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator, dtype=self.means.dtype)
        return self.means[k] + self.scales[k, None] * eps

    def log_marginal(self, x: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
        r""":math:`\log p_t(x_t)` for each row of ``x`` [B, D] (used to check the denoiser by Tweedie's formula)."""
        return torch.logsumexp(self._log_joint(x, alpha, sigma)[0], dim=-1)

    def _log_joint(self, x: Tensor, alpha, sigma) -> tuple[Tensor, Tensor]:
        alpha, sigma = (torch.as_tensor(v, dtype=x.dtype).reshape(-1, 1) for v in (alpha, sigma))
        var = alpha**2 * self.scales**2 + sigma**2  # [B or 1, K]
        sq = (x.unsqueeze(-2) - alpha.unsqueeze(-1) * self.means).pow(2).sum(-1)  # [B, K]
        log_joint = (torch.log(self.weights) - 0.5 * self.dim * torch.log(2 * torch.pi * var) - 0.5 * sq / var)
        return log_joint, var

    def posterior_mean(self, x: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
        """:math:`E[x_0\\mid x_t]` for rows of ``x`` [B, D]; ``alpha``/``sigma`` scalars or per-row [B]."""
        log_joint, var = self._log_joint(x, alpha, sigma)
        resp = torch.softmax(log_joint, dim=-1)  # [B, K]
        alpha = torch.as_tensor(alpha, dtype=x.dtype).reshape(-1, 1, 1)
        gain = (alpha.squeeze(-1) * self.scales**2 / var).unsqueeze(-1)  # [B or 1, K, 1]
        per_component = self.means + gain * (x.unsqueeze(-2) - alpha * self.means)  # [B, K, D]
        return (resp.unsqueeze(-1) * per_component).sum(-2)

    def denoiser(self, path: GaussianPath):
        """``denoise(x, t)`` for the sampling loop: the posterior mean at the path's noise level at ``t``."""

        def denoise(x: Tensor, t: float) -> Tensor:
            alpha, sigma = path.coefficients(t, x)
            return self.posterior_mean(x, alpha, sigma)

        return denoise
