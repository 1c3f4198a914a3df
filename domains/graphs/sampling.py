r"""DeFoG's time distortions (Qin et al. 2024, "DeFoG: Discrete Flow Matching for Graph Generation", sec. 4.2)
as a sampler whose time grid is the core's grid, re-spaced by a monotone map.

Write a grid point as the progress :math:`u = (t_{\max} - t)/(t_{\max} - t_{\min}) \in [0, 1]` towards the
data (:math:`u = 0` at the prior, :math:`u = 1` at the data). A distortion :math:`f` with :math:`f(0) = 0`,
:math:`f(1) = 1`, increasing, moves every point to :math:`u' = f(u)`; on the core's uniform grid
(categorical-only models) the steps become :math:`\Delta u'_k \approx f'(u_k)/K`:

* ``identity``: :math:`f(u) = u`;
* ``polydec``: :math:`f(u) = 2u - u^2`, :math:`f' = 2(1 - u)`: steps shrink linearly towards the data (DeFoG's
  choice for planar graphs);
* ``polyinc``: :math:`f(u) = u^2`: steps grow towards the data;
* ``cos``: :math:`f(u) = (1 - \cos\pi u)/2`: small steps at both ends;
* ``revcos``: :math:`f(u) = 2u - (1 - \cos\pi u)/2`: large steps at both ends, small in the middle.

The end points stay exactly :math:`t_{\max}` and :math:`t_{\min}` and the number of steps (hence the NFE) is
unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from sciddm.errors import choose
from sciddm.sampling import Sampler

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
    t_max, t_min = grid[0], grid[-1]
    u = (t_max - grid) / (t_max - t_min)
    distorted = t_max - f(u) * (t_max - t_min)
    distorted[0], distorted[-1] = t_max, t_min
    return distorted


@dataclass
class DistortedSampler(Sampler):
    """The core's :class:`~sciddm.sampling.Sampler` with its time grid re-spaced by ``time_distortion``."""

    time_distortion: str = "identity"

    def __post_init__(self) -> None:
        super().__post_init__()
        choose(self.time_distortion, TIME_DISTORTIONS, "time distortion")

    def grid_for(self, fields) -> Tensor:
        return distort_grid(super().grid_for(fields), self.time_distortion)
