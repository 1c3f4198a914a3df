r"""Affine Gaussian paths :math:`x_t = \alpha(t)\,x_0 + \sigma(t)\,\varepsilon`, :math:`\varepsilon\sim\mathcal N(0,I)`.

The path knows the forward process and how the network's possible outputs relate. Every parametrisation is
a linear combination :math:`p = c_0 x_0 + c_1\varepsilon` with time-dependent coefficients:

=============  ===========================================  =======================================
prediction     :math:`(c_0, c_1)`                           meaning
=============  ===========================================  =======================================
``x0``         :math:`(1, 0)`                               the clean sample
``eps``        :math:`(0, 1)`                               the noise
``v``          :math:`(-\sigma, \alpha)`                    Salimans & Ho's v (angular velocity for VP)
``velocity``   :math:`(\dot\alpha, \dot\sigma)`             :math:`dx_t/dt`, the flow-matching target
=============  ===========================================  =======================================

Given :math:`x_t` and any prediction, :math:`(x_0, \varepsilon)` solve the 2x2 system
:math:`\begin{pmatrix}\alpha & \sigma\\ c_0 & c_1\end{pmatrix}\begin{pmatrix}x_0\\ \varepsilon\end{pmatrix} =
\begin{pmatrix}x_t\\ p\end{pmatrix}`, and the score is :math:`\nabla\log p_t(x_t) = -\varepsilon/\sigma`.
One routine therefore converts between all of them; the system is singular only where a parametrisation
carries no information (``eps`` at :math:`\alpha=0`, ``x0`` at :math:`\sigma=0`).

An optional :class:`Subspace` restricts noise and predictions to a linear subspace, e.g. zero centre of mass
for molecules and point clouds, which makes the generated distribution translation invariant.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from sciddm.errors import choose
from sciddm.schedules import Schedule

Prediction = Literal["x0", "eps", "v", "velocity"]
PREDICTIONS: tuple[str, ...] = ("x0", "eps", "v", "velocity")


class Subspace:
    """A linear subspace that noise and predictions are projected onto (identity by default)."""

    def project(self, x: Tensor, context: dict[str, Tensor] | None = None) -> Tensor:
        return x


class ZeroCenterOfMass(Subspace):
    r"""Rows of ``x`` [B, N, D] with zero mean over the real nodes of each sample.

    :math:`P x_i = x_i - \frac{1}{n}\sum_{j\in\text{real}} x_j` for real nodes, 0 for padding; ``mask_key`` names
    the boolean node mask [B, N] in the context (all nodes real when absent).
    """

    def __init__(self, mask_key: str = "node_mask"):
        self.mask_key = mask_key

    def project(self, x: Tensor, context: dict[str, Tensor] | None = None) -> Tensor:
        mask = None if context is None else context.get(self.mask_key)
        if mask is None:
            return x - x.mean(dim=-2, keepdim=True)
        weights = mask.to(x.dtype).unsqueeze(-1)
        count = weights.sum(dim=-2, keepdim=True).clamp_min(1.0)
        center = (x * weights).sum(dim=-2, keepdim=True) / count
        return (x - center) * weights


def broadcast_time(t: Tensor | float, like: Tensor) -> Tensor:
    """Reshape per-sample times [B] (or a scalar) so they broadcast against ``like`` [B, ...]."""
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.ndim == 0:
        return t
    return t.reshape(t.shape + (1,) * (like.ndim - t.ndim))


class GaussianPath:
    """Forward process, parametrisation conversions and noise for one continuous field."""

    def __init__(self, schedule: Schedule, subspace: Subspace | None = None):
        self.schedule = schedule
        self.subspace = subspace or Subspace()

    # ----------------------------------------------------------------- coefficients
    def coefficients(self, t: Tensor | float, like: Tensor) -> tuple[Tensor, Tensor]:
        """:math:`(\\alpha(t), \\sigma(t))` broadcast against ``like``."""
        t = broadcast_time(t, like)
        return self.schedule.alpha(t), self.schedule.sigma(t)

    def prediction_coefficients(self, prediction: str, t: Tensor | float, like: Tensor) -> tuple[Tensor, Tensor]:
        r"""The :math:`(c_0, c_1)` with :math:`p = c_0 x_0 + c_1\varepsilon` for ``prediction`` (table above)."""
        choose(prediction, dict.fromkeys(PREDICTIONS), "prediction type")
        t = broadcast_time(t, like)
        s = self.schedule
        if prediction == "x0":
            return torch.ones_like(t), torch.zeros_like(t)
        if prediction == "eps":
            return torch.zeros_like(t), torch.ones_like(t)
        if prediction == "v":
            return -s.sigma(t), s.alpha(t)
        return s.alpha_dot(t), s.sigma_dot(t)

    # ----------------------------------------------------------------- forward process
    def noise(self, like: Tensor, context: dict[str, Tensor] | None = None,
              generator: torch.Generator | None = None) -> Tensor:
        """Standard normal noise shaped like ``like``, projected onto the subspace."""
        eps = torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
        return self.subspace.project(eps, context)

    def corrupt(self, x0: Tensor, t: Tensor | float, eps: Tensor) -> Tensor:
        r""":math:`x_t = \alpha(t)x_0 + \sigma(t)\varepsilon`."""
        alpha, sigma = self.coefficients(t, x0)
        return alpha * x0 + sigma * eps

    def renoise(self, x_s: Tensor, s: float, t: float, eps: Tensor) -> Tensor:
        r"""A draw of :math:`x_t\sim q(x_t\mid x_s)` for :math:`t > s`: :math:`\frac{\alpha_t}{\alpha_s}x_s +
        \sqrt{\sigma_t^2-\alpha_{t|s}^2\sigma_s^2}\,\varepsilon` with :math:`\alpha_{t|s}=\alpha_t/\alpha_s`
        (the forward transition; composed with :math:`q(x_s\mid x_0)` it gives :math:`q(x_t\mid x_0)`)."""
        alpha_s, sigma_s = self.coefficients(s, x_s)
        alpha_t, sigma_t = self.coefficients(t, x_s)
        ratio = alpha_t / alpha_s
        return ratio * x_s + (sigma_t**2 - ratio**2 * sigma_s**2).clamp_min(0).sqrt() * eps

    def target(self, prediction: str, x0: Tensor, eps: Tensor, t: Tensor | float) -> Tensor:
        """The regression target of ``prediction`` for a pair ``(x0, eps)``."""
        c0, c1 = self.prediction_coefficients(prediction, t, x0)
        return c0 * x0 + c1 * eps

    # ----------------------------------------------------------------- conversions
    def split(self, prediction: str, output: Tensor, x_t: Tensor, t: Tensor | float) -> tuple[Tensor, Tensor]:
        r"""Recover :math:`(\hat x_0, \hat\varepsilon)` from a ``prediction`` and :math:`x_t` (2x2 solve)."""
        alpha, sigma = self.coefficients(t, x_t)
        c0, c1 = self.prediction_coefficients(prediction, t, x_t)
        det = alpha * c1 - sigma * c0
        x0 = (c1 * x_t - sigma * output) / det
        eps = (alpha * output - c0 * x_t) / det
        return x0, eps

    def convert(self, output: Tensor, x_t: Tensor, t: Tensor | float, source: str, target: str) -> Tensor:
        """Convert a prediction of type ``source`` into type ``target`` (or ``"score"``) at :math:`(x_t, t)`."""
        x0, eps = self.split(source, output, x_t, t)
        if target == "score":
            _, sigma = self.coefficients(t, x_t)
            return -eps / sigma
        c0, c1 = self.prediction_coefficients(target, t, x_t)
        return c0 * x0 + c1 * eps

    def prior(self, like: Tensor, context: dict[str, Tensor] | None = None,
              generator: torch.Generator | None = None, t: float | None = None) -> Tensor:
        r"""A draw of :math:`x_{t}` at ``t`` (default ``t_max``) ignoring the data: :math:`\sigma(t)\varepsilon`.

        Exact for the linear flow at ``t=1``; for VP/VE/EDM it neglects :math:`\alpha(t_{\max})x_0`, which the
        schedules keep negligible (VP cosine :math:`\alpha(1)=5.5\cdot10^{-4}`; VE/EDM :math:`\sigma_{\max}\gg`
        data scale).
        """
        t = self.schedule.t_max if t is None else t
        sigma = self.schedule.sigma(torch.tensor(float(t), dtype=torch.float64)).item()
        return sigma * self.noise(like, context, generator)
