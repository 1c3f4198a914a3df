r"""Multistep exponential integrators in data-prediction form: DPM-Solver++ (2M, 3M) and a UniPC-style
predictor-corrector.

With the half log-SNR :math:`\ell = \log(\alpha/\sigma)`, the probability-flow ODE has the exact solution

.. math:: x_s = \frac{\sigma_s}{\sigma_t}x_t + \sigma_s\int_{\ell_t}^{\ell_s} e^{\ell}\,\hat x_0(\ell)\,d\ell.

Replacing :math:`\hat x_0` by the Newton polynomial :math:`p(u) = D_0 + c_1u + c_2u(u-u_1)` through known
estimates at :math:`u = \ell-\ell_t \in \{0, u_1, u_2\}` and integrating exactly, with :math:`h=\ell_s-\ell_t`,

.. math:: x_s = \frac{\sigma_s}{\sigma_t}x_t + \alpha_s\big(I_0D_0 + I_1c_1 + (I_2-u_1I_1)c_2\big),\quad
          I_0 = 1-e^{-h},\ I_1 = h - I_0,\ I_2 = h^2 - 2I_1.

*Predictor* (DPM-Solver++, Lu et al. 2022): the points are the current estimate and the previous one (2M) or
two (3M), so :math:`u_1, u_2 < 0`; Adams-Bashforth in :math:`\ell`. The order-2 weight :math:`I_1` is the exact
:math:`\varphi_2` integral (the variant some libraries call ``solver_type="heun"``); both it and the original
:math:`I_0h/2` are second order.

*Corrector* (UniC, Zhao et al. 2023): after the network is evaluated at the predicted :math:`x_s`, the step
:math:`t\to s` is redone with the new estimate among the points (:math:`u_1 = h > 0`, Adams-Moulton in
:math:`\ell`), raising the order by one. The same evaluation then feeds the next predictor, so the corrector
costs no extra network call. The step landing on :math:`\sigma=0` is not corrected (the sampling loop returns
the estimate there).

The first step(s) fall back to lower order. Points where :math:`\alpha=0` (:math:`\ell=-\infty`) are not kept.
"""

from __future__ import annotations

import math

from torch import Tensor

from sciddm.paths.gaussian import GaussianPath
from sciddm.solvers.base import Noise, Solver, half_log_snr, scalar_coefficients

Point = tuple[float, Tensor]  # (half log-SNR, clean estimate)


def exponential_step(x: Tensor, sigma_ratio: float, alpha_s: float, h: float, anchor: Point,
                     others: list[Point]) -> Tensor:
    r"""Integrate from the anchor's :math:`\ell` over ``h`` with the Newton polynomial through ``anchor`` and
    up to two ``others`` (see the module docstring)."""
    i0 = -math.expm1(-h)
    i1 = h - i0 if math.isfinite(h) else 0.0
    i2 = h * h - 2.0 * i1 if math.isfinite(h) else 0.0
    ell_0, d_0 = anchor
    increment = i0 * d_0
    if others:
        u_1 = others[0][0] - ell_0
        c_1 = (others[0][1] - d_0) / u_1
        increment = increment + i1 * c_1
        if len(others) > 1:
            u_2 = others[1][0] - ell_0
            c_2 = ((others[1][1] - d_0) / u_2 - c_1) / (u_2 - u_1)
            increment = increment + (i2 - u_1 * i1) * c_2
    return sigma_ratio * x + alpha_s * increment


class DPMSolverPP(Solver):
    """Multistep DPM-Solver++ of ``order`` 1 (= DDIM), 2 (2M) or 3 (3M), optionally with the UniC corrector;
    one evaluation per step either way."""

    def __init__(self, order: int = 2, corrector: bool = False):
        if order not in (1, 2, 3):
            raise ValueError(f"DPM-Solver++ order must be 1, 2 or 3, got {order}")
        self.order = order
        self.corrector = corrector
        self.multistep = order > 1 or corrector
        self.reset()

    def reset(self) -> None:
        self._history: list[Point] = []
        self._last_step: tuple[Tensor, float, float, float] | None = None  # (x_start, ell_start, sigma_start, ell_end)

    def _correct(self, path: GaussianPath, x: Tensor, t: float, ell_t: float, x0: Tensor) -> Tensor:
        """Redo the previous step (which ended at ``t``) with the new estimate ``x0`` among the points."""
        if self._last_step is None or not self._history:
            return x
        x_start, ell_start, sigma_start, ell_end = self._last_step
        alpha_t, sigma_t = scalar_coefficients(path, t)
        anchor = self._history[-1]
        others = [(ell_t, x0), *self._history[-self.order:-1][::-1]][: self.order]
        return exponential_step(x_start, sigma_t / sigma_start, alpha_t, ell_end - ell_start, anchor, others)

    def update(self, path: GaussianPath, x: Tensor, t: float, s: float, x0: Tensor, noise: Noise) -> Tensor:
        alpha_t, sigma_t = scalar_coefficients(path, t)
        alpha_s, sigma_s = scalar_coefficients(path, s)
        ell_t, ell_s = half_log_snr(alpha_t, sigma_t), half_log_snr(alpha_s, sigma_s)
        if self.corrector and math.isfinite(ell_t):
            x = self._correct(path, x, t, ell_t, x0)
        previous = self._history[-(self.order - 1):][::-1] if self.order > 1 else []
        out = exponential_step(x, sigma_s / sigma_t, alpha_s, ell_s - ell_t, (ell_t, x0), previous)
        if math.isfinite(ell_t):
            self._history = [*self._history, (ell_t, x0)][-3:]
            self._last_step = (x, ell_t, sigma_t, ell_s)
        return out
