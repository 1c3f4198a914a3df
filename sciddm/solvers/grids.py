r"""Time grids for sampling, kept apart from the solvers.

A grid is a float64 tensor :math:`t_0=t_{\max} > t_1 > \dots > t_K=t_{\min}` (K steps). Three spacings:

* ``uniform``: equal steps in ``t``;
* ``log_snr``: equal steps in :math:`\lambda=\log(\alpha^2/\sigma^2)`, the natural variable of exponential
  integrators (DPM-Solver);
* ``edm``: equal steps in :math:`r^{1/\rho}` with :math:`r=\sigma/\alpha=e^{-\lambda/2}` (Karras et al. 2022,
  :math:`\rho=7`), which spends steps at low noise.

Infinite log-SNR end points (:math:`\alpha=0` or :math:`\sigma=0`, e.g. the linear flow at both ends) are
clipped to :math:`|\lambda|\le 15` (the VP-cosine range) for spacing only, so steps are not wasted where the
marginals no longer change; the end points themselves stay exactly ``t_max`` and ``t_min``.

**Time distortions** (DeFoG, Qin et al. 2024, sec. 4.2) re-space any such grid afterwards. Write a grid point as
the progress :math:`u = (t_{\max} - t)/(t_{\max} - t_{\min}) \in [0, 1]` towards the data; an increasing map
:math:`f` with :math:`f(0)=0`, :math:`f(1)=1` moves it to :math:`u' = f(u)`, so on a uniform grid the steps
become :math:`\Delta u'_k \approx f'(u_k)/K`:

* ``identity``: :math:`f(u) = u`;
* ``polydec``: :math:`f(u) = 2u - u^2`: steps shrink linearly towards the data (DeFoG's choice for planar graphs);
* ``polyinc``: :math:`f(u) = u^2`: steps grow towards the data;
* ``cos``: :math:`f(u) = (1 - \cos\pi u)/2`: small steps at both ends;
* ``revcos``: :math:`f(u) = 2u - (1 - \cos\pi u)/2`: large steps at both ends, small in the middle.

The end points and the number of steps (hence the NFE) are unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from sciddm.errors import ConfigError, choose
from sciddm.schedules import Schedule

LOG_SNR_CLIP = 15.0


def _log_snr_range(schedule: Schedule, t_max: float, t_min: float) -> tuple[float, float]:
    ends = torch.tensor([t_max, t_min], dtype=torch.float64)
    lo, hi = schedule.log_snr(ends).tolist()
    return (lo if math.isfinite(lo) else -LOG_SNR_CLIP), (hi if math.isfinite(hi) else LOG_SNR_CLIP)


def uniform_grid(schedule: Schedule, steps: int, t_max: float, t_min: float, rho: float = 7.0) -> Tensor:
    return torch.linspace(t_max, t_min, steps + 1, dtype=torch.float64)


def log_snr_grid(schedule: Schedule, steps: int, t_max: float, t_min: float, rho: float = 7.0) -> Tensor:
    lo, hi = _log_snr_range(schedule, t_max, t_min)
    return schedule.t_from_log_snr(torch.linspace(lo, hi, steps + 1, dtype=torch.float64))


def edm_grid(schedule: Schedule, steps: int, t_max: float, t_min: float, rho: float = 7.0) -> Tensor:
    lo, hi = _log_snr_range(schedule, t_max, t_min)
    r_max, r_min = (torch.exp(torch.tensor(-0.5 * v, dtype=torch.float64)) for v in (lo, hi))
    ramp = torch.linspace(0.0, 1.0, steps + 1, dtype=torch.float64)
    r = (r_max ** (1 / rho) + ramp * (r_min ** (1 / rho) - r_max ** (1 / rho))) ** rho
    return schedule.t_from_log_snr(-2.0 * torch.log(r))


GRIDS = {"uniform": uniform_grid, "log_snr": log_snr_grid, "edm": edm_grid}

TIME_DISTORTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "identity": lambda u: u,
    "polydec": lambda u: 2.0 * u - u**2,
    "polyinc": lambda u: u**2,
    "cos": lambda u: 0.5 * (1.0 - torch.cos(math.pi * u)),
    "revcos": lambda u: 2.0 * u - 0.5 * (1.0 - torch.cos(math.pi * u)),
}


def distort_grid(grid: Tensor, distortion: str) -> Tensor:
    """Re-space a decreasing grid ``t_max = grid[0] > ... > grid[-1] = t_min`` by ``f(u)`` (module docstring)."""
    f = choose(distortion, TIME_DISTORTIONS, "time distortion")
    if distortion == "identity":  # exactly the grid, not the grid up to rounding
        return grid
    t_max, t_min = grid[0], grid[-1]
    u = (t_max - grid) / (t_max - t_min)
    distorted = t_max - f(u) * (t_max - t_min)
    distorted[0], distorted[-1] = t_max, t_min
    return distorted


def time_grid(schedule: Schedule, steps: int, kind: str = "uniform", t_max: float | None = None,
              t_min: float | None = None, rho: float = 7.0) -> Tensor:
    """A decreasing grid of ``steps + 1`` times from ``t_max`` to ``t_min`` (schedule defaults)."""
    if not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"steps must be an integer >= 1, got {steps!r}")
    t_max = schedule.t_max if t_max is None else float(t_max)
    t_min = schedule.t_min if t_min is None else float(t_min)
    if not 0.0 <= t_min < t_max <= 1.0:
        raise ConfigError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
    grid = choose(kind, GRIDS, "time grid")(schedule, steps, t_max, t_min, rho)
    grid[0], grid[-1] = t_max, t_min
    return grid
