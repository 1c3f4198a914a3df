r"""Noise schedules for Gaussian paths :math:`x_t = \alpha(t)\,x_0 + \sigma(t)\,\varepsilon` on :math:`t\in[0,1]`.

A schedule answers one question: how much signal :math:`\alpha(t)` and how much noise :math:`\sigma(t)` remain at
time ``t``. It also gives the time derivatives (used by ODE/SDE solvers and flow-matching targets) and the
log signal-to-noise ratio :math:`\lambda(t) = \log(\alpha^2/\sigma^2)`, which is strictly decreasing in ``t``
and lets time grids and multistep solvers work in :math:`\lambda`.

``t_min``/``t_max`` are the end points a sampler uses by default: where :math:`\sigma(0)=0` (VP linear) a small
``t_min`` keeps the log-SNR finite. All functions accept tensors of any shape and broadcast elementwise.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor


class Schedule(ABC):
    """Signal scale :math:`\\alpha(t)` and noise scale :math:`\\sigma(t)` with their time derivatives."""

    t_min: float = 0.0
    t_max: float = 1.0

    @abstractmethod
    def alpha(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def sigma(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def alpha_dot(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def sigma_dot(self, t: Tensor) -> Tensor: ...

    def log_snr(self, t: Tensor) -> Tensor:
        r""":math:`\lambda(t) = 2\log\alpha(t) - 2\log\sigma(t)` (``+inf`` where :math:`\sigma=0`)."""
        return 2.0 * (torch.log(self.alpha(t)) - torch.log(self.sigma(t)))

    def t_from_log_snr(self, log_snr: Tensor) -> Tensor:
        r"""Inverse of :meth:`log_snr` on ``[0, 1]``, by bisection (schedules override with closed forms).

        :math:`\lambda` is strictly decreasing, so 60 halvings in float64 pin ``t`` to machine precision.
        """
        target = torch.as_tensor(log_snr, dtype=torch.float64)
        lo = torch.zeros_like(target)
        hi = torch.ones_like(target)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = self.log_snr(mid) > target
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        return 0.5 * (lo + hi)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class VPCosine(Schedule):
    r"""Variance-preserving cosine schedule, truncated in log-SNR (Nichol & Dhariwal 2021; Kingma et al. 2021).

    :math:`\alpha = \cos\theta,\ \sigma = \sin\theta,\ \theta(t) = a t + b`, so :math:`\alpha^2+\sigma^2=1` and
    :math:`\lambda(t) = -2\log\tan\theta(t)`. ``a`` and ``b`` are chosen so that :math:`\lambda(0)=` ``log_snr_max``
    and :math:`\lambda(1)=` ``log_snr_min``; the truncation keeps every conversion finite at both ends.
    """

    def __init__(self, log_snr_min: float = -15.0, log_snr_max: float = 15.0):
        if not log_snr_min < log_snr_max:
            raise ValueError("VPCosine needs log_snr_min < log_snr_max")
        self.log_snr_min = log_snr_min
        self.log_snr_max = log_snr_max
        self._b = math.atan(math.exp(-0.5 * log_snr_max))
        self._a = math.atan(math.exp(-0.5 * log_snr_min)) - self._b

    def _theta(self, t: Tensor) -> Tensor:
        return self._a * t + self._b

    def alpha(self, t: Tensor) -> Tensor:
        return torch.cos(self._theta(t))

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sin(self._theta(t))

    def alpha_dot(self, t: Tensor) -> Tensor:
        return -self._a * torch.sin(self._theta(t))

    def sigma_dot(self, t: Tensor) -> Tensor:
        return self._a * torch.cos(self._theta(t))

    def log_snr(self, t: Tensor) -> Tensor:
        return -2.0 * torch.log(torch.tan(self._theta(t)))

    def t_from_log_snr(self, log_snr: Tensor) -> Tensor:
        log_snr = torch.as_tensor(log_snr, dtype=torch.float64)
        return (torch.atan(torch.exp(-0.5 * log_snr)) - self._b) / self._a


class VPLinear(Schedule):
    r"""Variance-preserving schedule with linear :math:`\beta(t)` (DDPM; Song et al. 2021, "VP SDE").

    :math:`\log\alpha(t) = -\tfrac14 t^2(\beta_1-\beta_0) - \tfrac12 t\beta_0`, :math:`\sigma^2 = 1-\alpha^2`,
    :math:`\dot\alpha = -\tfrac12\beta(t)\alpha`, :math:`\dot\sigma = -\alpha\dot\alpha/\sigma`.
    :math:`\sigma(0)=0`, so samplers stop at ``t_min = 1e-3`` by default.
    """

    t_min = 1e-3

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0):
        self.beta_min = beta_min
        self.beta_max = beta_max

    def _log_alpha(self, t: Tensor) -> Tensor:
        return -0.25 * t**2 * (self.beta_max - self.beta_min) - 0.5 * t * self.beta_min

    def _beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def alpha(self, t: Tensor) -> Tensor:
        return torch.exp(self._log_alpha(t))

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sqrt(-torch.expm1(2.0 * self._log_alpha(t)))

    def alpha_dot(self, t: Tensor) -> Tensor:
        return -0.5 * self._beta(t) * self.alpha(t)

    def sigma_dot(self, t: Tensor) -> Tensor:
        return -self.alpha(t) * self.alpha_dot(t) / self.sigma(t)

    def log_snr(self, t: Tensor) -> Tensor:
        two_log_alpha = 2.0 * self._log_alpha(t)
        return two_log_alpha - torch.log(-torch.expm1(two_log_alpha))


class VE(Schedule):
    r"""Variance-exploding schedule with geometric noise levels (Song & Ermon; Song et al. 2021, "VE SDE").

    :math:`\alpha=1`, :math:`\sigma(t) = \sigma_{\min}(\sigma_{\max}/\sigma_{\min})^t`. The prior at ``t=1`` is
    :math:`\mathcal N(0,\sigma_{\max}^2 I)`, which assumes :math:`\sigma_{\max}` far above the data scale.
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0):
        if not 0 < sigma_min < sigma_max:
            raise ValueError("VE needs 0 < sigma_min < sigma_max")
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self._log_ratio = math.log(sigma_max / sigma_min)

    def alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * torch.exp(self._log_ratio * t)

    def alpha_dot(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def sigma_dot(self, t: Tensor) -> Tensor:
        return self._log_ratio * self.sigma(t)

    def t_from_log_snr(self, log_snr: Tensor) -> Tensor:
        log_snr = torch.as_tensor(log_snr, dtype=torch.float64)
        return (-0.5 * log_snr - math.log(self.sigma_min)) / self._log_ratio


class EDM(Schedule):
    r"""The EDM noise ramp (Karras et al. 2022): :math:`\alpha=1`,
    :math:`\sigma(t) = \big(\sigma_{\max}^{1/\rho}\,t + \sigma_{\min}^{1/\rho}(1-t)\big)^{\rho}`.

    A uniform grid in ``t`` on this schedule is exactly the EDM sampling grid with the same :math:`\rho`.
    """

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0):
        if not 0 < sigma_min < sigma_max:
            raise ValueError("EDM needs 0 < sigma_min < sigma_max")
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.rho = rho
        self._lo = sigma_min ** (1.0 / rho)
        self._hi = sigma_max ** (1.0 / rho)

    def _ramp(self, t: Tensor) -> Tensor:
        return self._lo + t * (self._hi - self._lo)

    def alpha(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def sigma(self, t: Tensor) -> Tensor:
        return self._ramp(t) ** self.rho

    def alpha_dot(self, t: Tensor) -> Tensor:
        return torch.zeros_like(t)

    def sigma_dot(self, t: Tensor) -> Tensor:
        return self.rho * self._ramp(t) ** (self.rho - 1.0) * (self._hi - self._lo)

    def t_from_log_snr(self, log_snr: Tensor) -> Tensor:
        sigma = torch.exp(-0.5 * torch.as_tensor(log_snr, dtype=torch.float64))
        return (sigma ** (1.0 / self.rho) - self._lo) / (self._hi - self._lo)


class LinearFlow(Schedule):
    r"""The linear (rectified-flow / conditional flow-matching) path: :math:`\alpha = 1-t,\ \sigma = t`.

    The velocity :math:`\dot\alpha x_0 + \dot\sigma\varepsilon = \varepsilon - x_0` is constant along each
    conditional path. :math:`\alpha(1)=0`: ODE solvers start at ``t=1`` exactly; the reverse SDE is singular there.
    """

    def alpha(self, t: Tensor) -> Tensor:
        return 1.0 - t

    def sigma(self, t: Tensor) -> Tensor:
        return t.clone() if isinstance(t, Tensor) else torch.as_tensor(t)

    def alpha_dot(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)

    def sigma_dot(self, t: Tensor) -> Tensor:
        return torch.ones_like(t)

    def t_from_log_snr(self, log_snr: Tensor) -> Tensor:
        return torch.sigmoid(-0.5 * torch.as_tensor(log_snr, dtype=torch.float64))


SCHEDULES: dict[str, type[Schedule]] = {
    "vp_cosine": VPCosine,
    "vp_linear": VPLinear,
    "ve": VE,
    "edm": EDM,
    "linear_flow": LinearFlow,
}
