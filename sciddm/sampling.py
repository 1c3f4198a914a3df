r"""The sampling loop for one continuous field: walk a time grid with a solver and count evaluations.

End points, deliberately:

* the walk starts from whatever ``x`` is passed (usually :meth:`GaussianPath.prior`);
* a step that lands on :math:`\sigma(s)=0` returns the denoiser's estimate :math:`\hat x_0(x_t, t)` (one
  evaluation, first order), for every solver: it is the limit of DDIM/DPM-Solver++ and avoids Heun's second
  evaluation at zero noise (as in Karras et al. 2022);
* with ``denoise_final=True`` and :math:`\sigma(t_{\min})>0` (VE, EDM, VP-linear), one extra evaluation
  returns :math:`\hat x_0(x_{t_{\min}}, t_{\min})`; it is counted in the NFE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sciddm.paths.gaussian import GaussianPath
from sciddm.solvers.base import Solver, scalar_coefficients


@dataclass
class SampleResult:
    """A finished trajectory and the exact number of network evaluations it took."""

    x: Tensor
    nfe: int


class CountingDenoiser:
    """Wraps ``denoise(x, t) -> x0`` and counts calls (the NFE reported by samplers)."""

    def __init__(self, denoise: Callable[[Tensor, float], Tensor]):
        self.denoise = denoise
        self.calls = 0

    def __call__(self, x: Tensor, t: float) -> Tensor:
        self.calls += 1
        return self.denoise(x, t)


def _noise_source(path: GaussianPath, like: Tensor, context: dict[str, Tensor] | None,
                  generator: torch.Generator | None) -> Callable[[], Tensor]:
    return lambda: path.noise(like, context, generator)


def solve(path: GaussianPath, solver: Solver, denoise: Callable[[Tensor, float], Tensor], x: Tensor, grid: Tensor,
          generator: torch.Generator | None = None, context: dict[str, Tensor] | None = None,
          denoise_final: bool = False, progress: bool = False) -> SampleResult:
    """Integrate from ``grid[0]`` to ``grid[-1]`` with ``solver``; see the module docstring for the end points."""
    counted = CountingDenoiser(denoise)
    solver.reset()
    times = grid.tolist()
    steps = list(zip(times[:-1], times[1:], strict=True))
    for t, s in tqdm(steps, desc="sampling", disable=not progress, leave=False):
        if scalar_coefficients(path, s)[1] == 0.0:
            x = counted(x, t)
        else:
            x = solver.step(path, counted, x, t, s, _noise_source(path, x, context, generator))
    if denoise_final and scalar_coefficients(path, times[-1])[1] > 0.0:
        x = counted(x, times[-1])
    return SampleResult(x=x, nfe=counted.calls)
