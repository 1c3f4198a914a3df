r"""Training-time distributions over diffusion time ``t``.

* ``uniform``: :math:`t\sim U[t_{\min}, t_{\max}]`;
* ``logit_normal``: :math:`t = \mathrm{sigmoid}(m + s\,z)` rescaled to the range (Esser et al. 2024), which
  concentrates training on intermediate noise levels;
* ``antithetic``: stratified uniform, :math:`t_i = (u + i/B) \bmod 1` with one shared :math:`u` (Kingma et al. 2021's
  low-discrepancy sampler), which lowers the variance of the batch-mean loss.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sciddm.errors import choose


def _uniform(n: int, generator, device, mean: float, std: float) -> Tensor:
    return torch.rand(n, generator=generator, device=device)


def _logit_normal(n: int, generator, device, mean: float, std: float) -> Tensor:
    return torch.sigmoid(mean + std * torch.randn(n, generator=generator, device=device))


def _antithetic(n: int, generator, device, mean: float, std: float) -> Tensor:
    offset = torch.rand(1, generator=generator, device=device)
    return torch.remainder(offset + torch.arange(n, device=device) / n, 1.0)


TIME_SAMPLERS = {"uniform": _uniform, "logit_normal": _logit_normal, "antithetic": _antithetic}


def sample_times(kind: str, n: int, t_min: float = 0.0, t_max: float = 1.0, generator: torch.Generator | None = None,
                 device: torch.device | str | None = None, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """``n`` training times in ``[t_min, t_max]`` drawn by ``kind`` (see module docstring)."""
    u = choose(kind, TIME_SAMPLERS, "time sampling")(n, generator, device, mean, std)
    return t_min + (t_max - t_min) * u
