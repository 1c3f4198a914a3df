r"""The solver interface for continuous (Gaussian) fields.

A solver only knows how to move a sample from time ``t`` to an earlier time ``s`` given the denoiser's
estimate :math:`\hat x_0(x_t, t)`; the path supplies :math:`\alpha,\sigma` and the grid comes from
:mod:`sciddm.solvers.grids`. Single-evaluation solvers implement :meth:`Solver.update`; solvers that need more
evaluations per step (Heun) override :meth:`Solver.step`. Multistep solvers keep their history between calls
and are cleared by :meth:`Solver.reset` at the start of each trajectory.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sciddm.paths.gaussian import GaussianPath

Denoise = Callable[[Tensor, float], Tensor]
Noise = Callable[[], Tensor]


def scalar_coefficients(path: GaussianPath, t: float) -> tuple[float, float]:
    """:math:`(\\alpha(t), \\sigma(t))` as Python floats, computed in float64."""
    tt = torch.tensor(t, dtype=torch.float64)
    return path.schedule.alpha(tt).item(), path.schedule.sigma(tt).item()


def scalar_derivatives(path: GaussianPath, t: float) -> tuple[float, float]:
    r""":math:`(\dot\alpha(t), \dot\sigma(t))` as Python floats, computed in float64."""
    tt = torch.tensor(t, dtype=torch.float64)
    return path.schedule.alpha_dot(tt).item(), path.schedule.sigma_dot(tt).item()


def half_log_snr(alpha: float, sigma: float) -> float:
    r""":math:`\lambda/2 = \log(\alpha/\sigma)`, with :math:`-\infty` at :math:`\alpha=0`."""
    return float(torch.log(torch.tensor(alpha, dtype=torch.float64) / sigma))


class Solver:
    """Base class: ``step`` = one network evaluation followed by :meth:`update`."""

    evals_per_step: int = 1
    stochastic: bool = False
    multistep: bool = False  # keeps history between steps (cannot jump back in time)

    def reset(self) -> None:
        """Forget multistep history before a new trajectory."""

    def update(self, path: GaussianPath, x: Tensor, t: float, s: float, x0: Tensor, noise: Noise) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} needs {self.evals_per_step} evaluations per step")

    def step(self, path: GaussianPath, denoise: Denoise, x: Tensor, t: float, s: float, noise: Noise) -> Tensor:
        return self.update(path, x, t, s, denoise(x, t), noise)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"
