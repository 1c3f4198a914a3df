r"""Fields: the named parts of a sample, each with its own path, loss and sampler update.

A state is a ``dict[str, Tensor]`` (e.g. ``pos`` [B,N,3] Gaussian, ``atom_types`` [B,N] categorical) with a
``context`` dict of things that are not generated (masks, conditions). One network call per step serves every
field: the network sees ``{name: field.network_input(x_t, t)}`` and returns one raw output per field; each field
turns its output into a clean-data estimate and moves its own part of the state.

This module defines the interface and the Gaussian field; categorical fields live in
:mod:`sciddm.categorical_fields`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

import torch
from torch import Tensor

from sciddm.errors import ConfigError, choose
from sciddm.paths.gaussian import PREDICTIONS, GaussianPath, Subspace, ZeroCenterOfMass
from sciddm.schedules import Schedule
from sciddm.solvers import make_solver
from sciddm.solvers.base import Noise, Solver, scalar_coefficients

Context = dict[str, Tensor]


def masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Per-sample mean of ``values`` [B, ...] over entries where ``mask`` (broadcastable, [B, ...]) is true."""
    dims = tuple(range(1, values.ndim))
    if mask is None:
        return values.mean(dim=dims) if dims else values
    weights = mask.reshape(mask.shape + (1,) * (values.ndim - mask.ndim)).to(values.dtype).expand_as(values)
    return (values * weights).sum(dim=dims) / weights.sum(dim=dims).clamp_min(1.0)


class Field(ABC):
    """One generated component of a sample."""

    def __init__(self, weight: float = 1.0, mask_key: str | None = None):
        self.weight = weight
        self.mask_key = mask_key

    def mask(self, context: Context) -> Tensor | None:
        return None if self.mask_key is None else context[self.mask_key]

    @property
    def t_range(self) -> tuple[float, float]:
        """Default ``(t_min, t_max)`` for training-time sampling and time grids."""
        return 0.0, 1.0

    @abstractmethod
    def corrupt(self, x0: Tensor, t: Tensor, context: Context, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor]:
        """Draw :math:`x_t\\sim q(x_t\\mid x_0)`; return ``(x_t, aux)`` where ``aux`` is what the loss needs."""

    @abstractmethod
    def network_input(self, x_t: Tensor, t: Tensor) -> Tensor:
        """What the network sees for this field at per-sample times ``t`` [B]."""

    @abstractmethod
    def loss(self, output: Tensor, x0: Tensor, x_t: Tensor, aux: Tensor, t: Tensor, context: Context) -> Tensor:
        """Per-sample loss [B]."""

    @abstractmethod
    def prior(self, like: Tensor, context: Context, generator: torch.Generator | None = None) -> Tensor:
        """A draw from the path's terminal distribution at ``t_max``, shaped like ``like``."""

    @abstractmethod
    def denoised(self, output: Tensor, x_t: Tensor, t: float) -> Tensor:
        """The clean-data estimate implied by the network output at the shared sampling time ``t``."""

    @abstractmethod
    def update(self, solver, x_t: Tensor, t: float, s: float, estimate: Tensor, context: Context,
               generator: torch.Generator | None) -> Tensor:
        """Move this field from ``t`` to ``s < t`` given the clean-data ``estimate``."""

    @abstractmethod
    def make_solver(self, sampler):
        """A fresh solver for this field from the :class:`sciddm.sampling.Sampler` settings."""

    @abstractmethod
    def renoise(self, x_s: Tensor, s: float, t: float, context: Context,
                generator: torch.Generator | None = None) -> Tensor:
        """Jump back in time: a draw of :math:`x_t\\sim q(x_t\\mid x_s)`, ``t > s`` (RePaint resampling)."""

    def is_terminal(self, t: float) -> bool:
        """Whether time ``t`` carries no noise at all (a step landing there returns the clean estimate)."""
        return False

    def needs_final_denoise(self, t_min: float) -> bool:
        """Whether the state at ``t_min`` still carries noise that a final evaluation should remove."""
        return False

    def final_estimate(self, x: Tensor, estimate: Tensor, t_min: float, context: Context) -> Tensor:
        """The state after the optional final denoising evaluation at ``t_min``, given the clean estimate."""
        return x

    def finalize(self, x: Tensor, context: Context) -> Tensor:
        """Post-process the final state (padding zeroed, etc.)."""
        mask = self.mask(context)
        if mask is None:
            return x
        return x * mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)).to(x.dtype)


Weighting = Literal["target", "x0", "snr", "min_snr", "edm"]


class GaussianField(Field):
    r"""A continuous field on a Gaussian path with a chosen network parametrisation and loss weighting.

    ``prediction``: what the raw network output means: ``x0``, ``eps``, ``v``, ``velocity``, or ``edm`` (the
    output :math:`F` of an EDM-preconditioned denoiser, Karras et al. 2022, generalised to
    :math:`\alpha\ne 1` through :math:`y=x_t/\alpha`, :math:`\tilde\sigma=\sigma/\alpha`:
    input :math:`c_{in}y`, :math:`\hat x_0 = c_{skip}y + c_{out}F` with
    :math:`c_{in}=(\tilde\sigma^2+\sigma_d^2)^{-1/2}`, :math:`c_{skip}=\sigma_d^2/(\tilde\sigma^2+\sigma_d^2)`,
    :math:`c_{out}=\tilde\sigma\sigma_d(\tilde\sigma^2+\sigma_d^2)^{-1/2}`).
    Preconditioning lives here, not in the network.

    ``weighting``: ``target`` is the plain MSE on the prediction target (eps-MSE for ``eps``, the flow-matching
    loss for ``velocity``, the EDM loss for ``edm``). The others are weights :math:`w(t)` on the x0-space error
    :math:`\|\hat x_0-x_0\|^2`: ``x0`` (:math:`w=1`), ``snr`` (:math:`w=\alpha^2/\sigma^2`, equal to eps-MSE),
    ``min_snr`` (:math:`\min(\mathrm{SNR},\gamma)`, Hang et al. 2023) and ``edm``
    (:math:`(\tilde\sigma^2+\sigma_d^2)/(\tilde\sigma\sigma_d)^2`).

    ``zero_com`` restricts noise and outputs to zero centre of mass over ``mask_key``'s real nodes.
    """

    def __init__(self, schedule: Schedule, prediction: str = "eps", weighting: Weighting = "target",
                 sigma_data: float = 1.0, min_snr_gamma: float = 5.0, zero_com: bool = False,
                 mask_key: str | None = None, weight: float = 1.0):
        super().__init__(weight=weight, mask_key=mask_key)
        choose(prediction, dict.fromkeys((*PREDICTIONS, "edm")), "prediction type")
        choose(weighting, dict.fromkeys(("target", "x0", "snr", "min_snr", "edm")), "loss weighting")
        subspace: Subspace = ZeroCenterOfMass(mask_key or "node_mask") if zero_com else Subspace()
        self.path = GaussianPath(schedule, subspace)
        self.prediction = prediction
        self.weighting = weighting
        self.sigma_data = sigma_data
        self.min_snr_gamma = min_snr_gamma

    @property
    def t_range(self) -> tuple[float, float]:
        return self.path.schedule.t_min, self.path.schedule.t_max

    # --------------------------------------------------------------- EDM preconditioning
    def _edm_scalings(self, t: Tensor | float, like: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        alpha, sigma = self.path.coefficients(t, like)
        if torch.any(alpha <= 0):
            raise ConfigError("prediction 'edm' needs alpha(t) > 0; use t_max < 1 with the linear flow path")
        rel = sigma / alpha
        norm = torch.sqrt(rel**2 + self.sigma_data**2)
        return alpha, 1.0 / norm, self.sigma_data**2 / norm**2, rel * self.sigma_data / norm

    # --------------------------------------------------------------- training
    def corrupt(self, x0, t, context, generator=None):
        eps = self.path.noise(x0, context, generator)
        return self.path.corrupt(x0, t, eps), eps

    def network_input(self, x_t: Tensor, t: Tensor) -> Tensor:
        if self.prediction != "edm":
            return x_t
        alpha, c_in, _, _ = self._edm_scalings(t, x_t)
        return c_in * x_t / alpha

    def _project(self, output: Tensor, context: Context | None) -> Tensor:
        return self.path.subspace.project(output, context)

    def denoised(self, output: Tensor, x_t: Tensor, t: Tensor | float) -> Tensor:
        if self.prediction == "edm":
            alpha, _, c_skip, c_out = self._edm_scalings(t, x_t)
            return c_skip * x_t / alpha + c_out * output
        return self.path.split(self.prediction, output, x_t, t)[0]

    def loss(self, output, x0, x_t, aux, t, context):
        output = self._project(output, context)
        mask = self.mask(context)
        if self.weighting == "target":
            if self.prediction == "edm":
                _, _, c_skip, c_out = self._edm_scalings(t, x_t)
                alpha = self.path.coefficients(t, x_t)[0]
                target = (x0 - c_skip * x_t / alpha) / c_out
            else:
                target = self.path.target(self.prediction, x0, aux, t)
            return masked_mean((output - target) ** 2, mask)
        error = masked_mean((self.denoised(output, x_t, t) - x0) ** 2, mask)
        return self._x0_weight(t, x0) * error

    def _x0_weight(self, t: Tensor, like: Tensor) -> Tensor:
        alpha, sigma = self.path.coefficients(t, like)
        alpha, sigma = alpha.reshape(-1), sigma.reshape(-1)
        snr = alpha**2 / sigma**2
        if self.weighting == "x0":
            return torch.ones_like(snr)
        if self.weighting == "snr":
            return snr
        if self.weighting == "min_snr":
            return snr.clamp(max=self.min_snr_gamma)
        rel2 = 1.0 / snr
        return (rel2 + self.sigma_data**2) / (rel2 * self.sigma_data**2)

    # --------------------------------------------------------------- sampling
    def prior(self, like, context, generator=None):
        return self.path.prior(like, context, generator)

    def make_solver(self, sampler) -> Solver:
        return make_solver(sampler.solver)

    def is_terminal(self, t: float) -> bool:
        return scalar_coefficients(self.path, t)[1] == 0.0

    def needs_final_denoise(self, t_min: float) -> bool:
        return not self.is_terminal(t_min)

    def final_estimate(self, x, estimate, t_min, context):
        return self._project(estimate, context)

    def renoise(self, x_s, s, t, context, generator=None):
        return self.path.renoise(x_s, s, t, self.path.noise(x_s, context, generator))

    def update(self, solver: Solver, x_t, t, s, estimate, context, generator):
        estimate = self._project(estimate, context)
        if self.is_terminal(s):
            return estimate
        noise: Noise = lambda: self.path.noise(x_t, context, generator)  # noqa: E731
        return solver.update(self.path, x_t, t, s, estimate, noise)


def time_like(t: float, batch_size: int, device: torch.device | None = None) -> Tensor:
    """The shared sampling time as a per-sample tensor [B]."""
    return torch.full((batch_size,), float(t), device=device)

