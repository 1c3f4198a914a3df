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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from tqdm.auto import tqdm

from sciddm.errors import ConfigError, choose
from sciddm.paths.gaussian import GaussianPath
from sciddm.self_conditioning import is_self_conditioned, refuse_self_conditioned, with_estimates
from sciddm.solvers import time_grid
from sciddm.solvers.base import Solver, scalar_coefficients
from sciddm.solvers.cache import RowCache

if TYPE_CHECKING:
    from sciddm.fields import Context, Field

Network = Callable[[dict[str, Tensor], Tensor, dict[str, Tensor]], dict[str, Tensor]]


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


@dataclass
class Sampler:
    """How to sample: the solver for continuous fields, the step count, the time grid and the end points.

    ``solver`` names a continuous solver (:data:`sciddm.solvers.SOLVERS`); categorical fields use
    ``categorical_solver``. ``t_max``/``t_min`` default to the schedule's. ``denoise_final`` adds one
    evaluation at ``t_min`` when :math:`\\sigma(t_{\\min})>0` (see :func:`solve`). ``resample`` is RePaint's
    :math:`r` (Lugmayr et al. 2022, jump length 1): each step ``t -> s`` (with its hooks) is taken ``r`` times,
    re-noising :math:`x_s` back to ``t`` with the forward transition :math:`q(x_t\\mid x_s)` in between, so that
    steered parts (e.g. inpainted known values) and generated parts harmonise; it costs ``r`` times the NFE and
    needs a single-step solver. ``resample_window = (lo, hi)`` restricts the repeats to the steps that start at a
    time in ``[lo, hi]`` (the others are taken once), e.g. ``(0.5, 1.0)`` for the high-noise half only.
    ``time_distortion`` re-spaces the grid (DeFoG's maps, :mod:`sciddm.solvers.grids`); models with categorical
    fields only walk a uniform grid before it.
    """

    solver: str = "dpmpp_2m"
    steps: int = 50
    grid: str = "log_snr"
    time_distortion: str = "identity"
    t_max: float | None = None
    t_min: float | None = None
    denoise_final: bool = True
    categorical_solver: str = "ancestral"
    resample: int = 1
    resample_window: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        from sciddm.solvers import SOLVERS
        from sciddm.solvers.grids import GRIDS, TIME_DISTORTIONS

        choose(self.solver, SOLVERS, "solver")
        choose(self.grid, GRIDS, "time grid")
        choose(self.time_distortion, TIME_DISTORTIONS, "time distortion")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise ConfigError(f"steps must be an integer >= 1, got {self.steps!r}")
        if not isinstance(self.resample, int) or isinstance(self.resample, bool) or self.resample < 1:
            raise ConfigError(f"resample must be an integer >= 1, got {self.resample!r}")
        try:
            low, high = self.resample_window = tuple(float(v) for v in self.resample_window)
        except (TypeError, ValueError):
            low, high = 1.0, 0.0  # reported below
        if not 0.0 <= low <= high:
            raise ConfigError(f"resample_window must be (lo, hi) with 0 <= lo <= hi, got {self.resample_window!r}")

    def repeats(self, t: float) -> int:
        """How many times the step starting at time ``t`` is taken (``resample`` inside ``resample_window``)."""
        low, high = self.resample_window
        return self.resample if low <= t <= high else 1

    def grid_for(self, fields: dict[str, Field]) -> Tensor:
        """The shared time grid, spaced by the first Gaussian field's schedule (uniform if there is none), then
        re-spaced by ``time_distortion``."""
        from sciddm.fields import GaussianField
        from sciddm.schedules import LinearFlow
        from sciddm.solvers.grids import distort_grid

        gaussian = [f for f in fields.values() if isinstance(f, GaussianField)]
        schedule = gaussian[0].path.schedule if gaussian else LinearFlow()
        kind = self.grid if gaussian else "uniform"
        grid = time_grid(schedule, self.steps, kind, t_max=self.t_max, t_min=self.t_min)
        return distort_grid(grid, self.time_distortion)


Estimator = Callable[[dict[str, Tensor], float], dict[str, Tensor]]
# A step hook sees the state after a step to time s (None after the final clean estimate).
StepHook = Callable[[dict[str, Tensor], "float | None", "Context", "torch.Generator | None"], dict[str, Tensor]]


class CountingNetwork:
    """Wraps a network and counts its calls: the NFE every sampler reports (guidance wrappers included)."""

    def __init__(self, network: Network):
        self.network = network
        self.calls = 0

    def __call__(self, inputs: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        self.calls += 1
        return self.network(inputs, t, context)


def make_estimator(network: Network, fields: dict[str, Field], context: Context,
                   self_conditioning: bool = False) -> Estimator:
    """``estimate(state, t)``: one network call, turned into each field's clean-data estimate.

    With ``self_conditioning`` every call after the first also hands the network the previous call's estimates
    (:mod:`sciddm.self_conditioning`).
    """
    previous: dict[str, Tensor] = {}

    def estimate(state: dict[str, Tensor], t: float) -> dict[str, Tensor]:
        reference = next(iter(state.values()))
        t_batch = torch.full((reference.shape[0],), t, device=reference.device)
        inputs = {name: field.network_input(state[name], t_batch) for name, field in fields.items()}
        outputs = network(inputs, t_batch, with_estimates(context, previous) if previous else context)
        estimates = {name: field.denoised(outputs[name], state[name], t) for name, field in fields.items()}
        if self_conditioning:
            previous.update({name: value.detach() for name, value in estimates.items()})
        return estimates

    return estimate


def sample_fields(network: Network, fields: dict[str, Field], template: dict[str, Tensor], context: Context,
                  sampler: Sampler, generator: torch.Generator | None = None, progress: bool = False,
                  guidance: Sequence[Callable[[Estimator], Estimator]] = (), hooks: Sequence[StepHook] = (),
                  network_wrapper: Callable[[Network], Network] | None = None) -> tuple[dict[str, Tensor], int]:
    """Sample every field jointly with one ``network`` call per step; return ``(state, nfe)``.

    ``template`` holds one tensor per field giving the shape (and dtype/device) of a draw; ``network`` maps
    ``({name: network input}, t [B], context)`` to raw outputs; ``network_wrapper`` wraps it (e.g.
    classifier-free guidance) and the NFE counts the calls of ``network`` itself.
    Steering never forks a solver: ``guidance`` wrappers transform the estimator (e.g. reconstruction or
    reward-gradient guidance), and ``hooks`` edit the state after each step, at its new time ``s`` (e.g.
    inpainting). A solver with several evaluations per step (Heun) needs a single continuous field.
    """
    solvers = {name: field.make_solver(sampler) for name, field in fields.items()}
    counted = CountingNetwork(network)
    call = network_wrapper(counted) if network_wrapper is not None else counted
    if any(getattr(solver, "reuses_outputs", False) for solver in solvers.values()):
        if guidance:
            raise ConfigError("the cached sampler reuses network outputs for unchanged samples and cannot be "
                              "combined with estimator guidance; use the 'ancestral' categorical solver")
        refuse_self_conditioned(network, "the cached sampler (it reuses outputs of unchanged samples)")
        call = RowCache(call)  # e.g. the cached masked sampler: unchanged samples are not re-evaluated
    estimate = make_estimator(call, fields, context, is_self_conditioned(network))
    for wrap in guidance:
        estimate = wrap(estimate)
    grid = sampler.grid_for(fields)
    state = {name: field.prior(template[name], context, generator) for name, field in fields.items()}
    for solver in solvers.values():
        solver.reset()
    multi_eval = any(getattr(s, "evals_per_step", 1) > 1 for s in solvers.values())
    if multi_eval and len(fields) != 1:
        raise ConfigError(f"solver {sampler.solver!r} needs several evaluations per step; joint states of "
                          f"{len(fields)} fields need a single-evaluation solver (e.g. dpmpp_2m, ddim)")

    if sampler.resample > 1 and any(getattr(solver, "multistep", False) for solver in solvers.values()):
        raise ConfigError(f"resample={sampler.resample} jumps back in time, which multistep solver "
                          f"{sampler.solver!r} cannot follow; use ddim, ddpm, euler, euler_maruyama or heun")

    times = grid.tolist()
    for t, s in tqdm(list(zip(times[:-1], times[1:], strict=True)), desc="sampling", disable=not progress,
                     leave=False):
        for attempt in range(sampler.repeats(t)):
            if attempt:  # RePaint: back to t by the forward transition, then the step again
                state = {name: field.renoise(state[name], s, t, context, generator) for name, field in fields.items()}
            if multi_eval and not next(iter(fields.values())).is_terminal(s):
                ((name, field),) = fields.items()
                denoise = _single_field_denoiser(estimate, name)
                state = {name: solvers[name].step(field.path, denoise, state[name], t, s,
                                                  _noise_source(field.path, state[name], context, generator))}
            else:
                estimates = estimate(state, t)
                state = {name: field.update(solvers[name], state[name], t, s, estimates[name], context, generator)
                         for name, field in fields.items()}
            for hook in hooks:
                state = hook(state, s, context, generator)
    if sampler.denoise_final and any(field.needs_final_denoise(times[-1]) for field in fields.values()):
        estimates = estimate(state, times[-1])
        state = {name: field.final_estimate(state[name], estimates[name], times[-1], context)
                 for name, field in fields.items()}
        for hook in hooks:
            state = hook(state, None, context, generator)
    return {name: fields[name].finalize(x, context) for name, x in state.items()}, counted.calls


def _single_field_denoiser(estimate: Estimator, name: str) -> Callable[[Tensor, float], Tensor]:
    return lambda x, t: estimate({name: x}, t)[name]
