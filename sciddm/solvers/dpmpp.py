r"""DPM-Solver++ multistep (Lu et al. 2022) in data-prediction form, orders 2 and 3.

With the half log-SNR :math:`\ell = \log(\alpha/\sigma)`, the probability-flow ODE has the exact solution

.. math:: x_s = \frac{\sigma_s}{\sigma_t}x_t + \sigma_s\int_{\ell_t}^{\ell_s} e^{\ell}\,\hat x_0(\ell)\,d\ell.

Expanding :math:`\hat x_0` in :math:`u=\ell-\ell_t` to order ``k-1`` and integrating exactly, with
:math:`h=\ell_s-\ell_t`:

.. math:: x_s = \frac{\sigma_s}{\sigma_t}x_t + \alpha_s\Big(I_0 D + I_1 D' + \tfrac12 I_2 D''\Big),\quad
          I_0 = 1-e^{-h},\ I_1 = h - I_0,\ I_2 = h^2 - 2I_1,

where :math:`D=\hat x_0(x_t)` and the derivatives :math:`D', D''` come from Newton divided differences over the
previous one (2M) or two (3M) evaluations on the actual, possibly non-uniform, :math:`\ell` grid. The first
step(s) fall back to lower order. Points where :math:`\alpha=0` (:math:`\ell=-\infty`) are not kept as history.
The order-2 weight :math:`I_1` is the exact :math:`\varphi_2` integral (the variant some libraries call
``solver_type="heun"``); both it and the original :math:`I_0 h/2` are second order.
"""

from __future__ import annotations

import math

from torch import Tensor

from sciddm.paths.gaussian import GaussianPath
from sciddm.solvers.base import Noise, Solver, half_log_snr, scalar_coefficients


class DPMSolverPP(Solver):
    """Multistep DPM-Solver++ of ``order`` 1 (= DDIM), 2 (2M) or 3 (3M); one evaluation per step."""

    def __init__(self, order: int = 2):
        if order not in (1, 2, 3):
            raise ValueError(f"DPM-Solver++ order must be 1, 2 or 3, got {order}")
        self.order = order
        self._history: list[tuple[float, Tensor]] = []

    def reset(self) -> None:
        self._history = []

    def update(self, path: GaussianPath, x: Tensor, t: float, s: float, x0: Tensor, noise: Noise) -> Tensor:
        alpha_t, sigma_t = scalar_coefficients(path, t)
        alpha_s, sigma_s = scalar_coefficients(path, s)
        ell_t, ell_s = half_log_snr(alpha_t, sigma_t), half_log_snr(alpha_s, sigma_s)
        h = ell_s - ell_t
        i0 = -math.expm1(-h)
        i1 = h - i0 if math.isfinite(h) else 0.0
        i2 = h * h - 2.0 * i1 if math.isfinite(h) else 0.0

        increment = i0 * x0
        prev = [p for p in self._history[-(self.order - 1):]] if self.order > 1 else []
        if prev:
            ell_1, d_1 = prev[-1]
            h1 = ell_t - ell_1
            slope_1 = (x0 - d_1) / h1
            if len(prev) == 2:
                ell_2, d_2 = prev[0]
                h2 = ell_1 - ell_2
                curvature = (slope_1 - (d_1 - d_2) / h2) / (h1 + h2)  # p(u) = D + slope u + c u (u + h1)
                increment = increment + i1 * (slope_1 + curvature * h1) + i2 * curvature
            else:
                increment = increment + i1 * slope_1
        if math.isfinite(ell_t):
            self._history.append((ell_t, x0))
            self._history = self._history[-2:]
        return (sigma_s / sigma_t) * x + alpha_s * increment
