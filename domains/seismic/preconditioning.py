"""EDM preconditioning of a denoiser around a first guess: diffusion of the residual ``x0 - guess``.

On a Gaussian path ``x_t = alpha x0 + sigma eps`` with a first guess ``g`` of the clean volume (the linear
interpolation of the observed traces, ``context[guess_key]``), the rescaled residual

    y = x_t / alpha - g = (x0 - g) + s eps,        s = sigma / alpha,

is a variance-exploding path of the residual ``r0 = x0 - g``. Karras et al. (EDM, 2022) precondition its
denoiser as ``r0_hat = c_skip(s) y + c_out(s) F(c_in(s) y, t, context)`` with

    c_in = 1 / sqrt(s^2 + sd^2),   c_skip = sd^2 / (s^2 + sd^2),   c_out = s sd / sqrt(s^2 + sd^2),

``sd`` = ``sigma_data``, the RMS of the residual. The wrapper returns the clean estimate
``x0_hat = g + r0_hat`` (use it with ``prediction: x0``). At low noise ``c_skip -> 1`` and ``c_out -> 0``, so
the estimate reproduces its noisy input exactly however little the network has learned; at high noise
``c_skip -> 0`` and the estimate is ``g + sd F``, a learned correction of the guess. With the inner network's
last layer at zero (``UNet3dDenoiser(zero_output=True)``) the untrained estimate is ``g + c_skip y``, the
posterior mean of a Gaussian residual of variance ``sd^2``.
"""

from __future__ import annotations

import torch
from torch import nn

from sciddm.errors import ConfigError
from sciddm.schedules import Schedule


class GuessPreconditionedDenoiser(nn.Module):
    """``forward(x_t, t, context) -> {field: x0_hat}`` with ``x0_hat = g + c_skip y + c_out F(c_in y)``.

    ``schedule`` must be the schedule of the field's Gaussian path (it converts ``t`` to ``alpha``, ``sigma``);
    ``network`` is any ``forward(x_t, t, context) -> {field: F}`` denoiser (e.g. :class:`UNet3dDenoiser`
    without ``residual_key``); its ``condition_keys`` are exposed so callers know which context it needs.
    """

    def __init__(self, network: nn.Module, schedule: Schedule, sigma_data: float = 0.15,
                 guess_key: str = "interpolated", field: str = "volume"):
        super().__init__()
        if not sigma_data > 0:
            raise ConfigError(f"sigma_data must be positive, got {sigma_data}")
        self.network, self.schedule, self.sigma_data = network, schedule, sigma_data
        self.guess_key, self.field = guess_key, field

    @property
    def condition_keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*getattr(self.network, "condition_keys", ()), self.guess_key)))

    def forward(self, x_t: dict[str, torch.Tensor], t: torch.Tensor,
                context: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        volume = x_t[self.field]
        shape = (-1,) + (1,) * (volume.dim() - 1)
        alpha = self.schedule.alpha(t).to(volume.dtype).reshape(shape)
        sigma = self.schedule.sigma(t).to(volume.dtype).reshape(shape)
        guess = context[self.guess_key].to(volume.dtype)
        s = sigma / alpha
        y = volume / alpha - guess
        norm = torch.sqrt(s**2 + self.sigma_data**2)
        c_in, c_skip, c_out = 1 / norm, self.sigma_data**2 / norm**2, s * self.sigma_data / norm
        correction = self.network({self.field: c_in * y}, t, context)[self.field]
        return {self.field: guess + c_skip * y + c_out * correction}
