r"""DRaFT-K (Clark et al. 2024): reward back-propagated through the last K steps of a few-step sampler.

Continuous (Gaussian) fields only. The rollout is the module's ``sampler`` (e.g. deterministic ``ddim``, few steps),
with the usual end points (a final clean estimate when :math:`\sigma(t_{\min})>0`); gradients flow through the
last ``grad_steps`` network evaluations and the solver updates between them; earlier steps run under ``no_grad``.

KL to the reference. A deterministic solver has no transition density, so the KL is measured on the models'
ancestral (DDPM) kernels at the visited states: both are :math:`\mathcal N(a\,x_t + b\,\hat x_0, c^2 I)` with the
same :math:`a, c` (Ho et al. 2020 posterior with :math:`\alpha_{t|s}=\alpha_t/\alpha_s`,
:math:`\sigma_{t|s}^2=\sigma_t^2-\alpha_{t|s}^2\sigma_s^2`, :math:`b = \alpha_s\sigma_{t|s}^2/\sigma_t^2`,
:math:`c^2 = \sigma_{t|s}^2\sigma_s^2/\sigma_t^2`), so

.. math:: \mathrm{KL}_t = \frac{b^2}{2c^2}\,\|\hat x_0^\theta - \hat x_0^{\text{ref}}\|^2
          = \frac{\alpha_s^2\sigma_{t|s}^2}{2\sigma_t^2\sigma_s^2}\,\|\hat x_0^\theta - \hat x_0^{\text{ref}}\|^2,

summed over the field's real entries and over steps with :math:`\sigma_s>0` (a step onto :math:`\sigma_s=0` has a
deterministic kernel and no finite KL; the final clean estimate adds none).
"""

from __future__ import annotations

import torch
from torch import Tensor

from sciddm.errors import ConfigError
from sciddm.fields import Context, GaussianField, time_like
from sciddm.finetune.base import RewardFinetuning
from sciddm.rewards import score
from sciddm.solvers.base import scalar_coefficients


def ddpm_kl_weight(field: GaussianField, t: float, s: float) -> float:
    """:math:`b^2/(2c^2)` of the module docstring (0 when :math:`\\sigma_s = 0`)."""
    alpha_t, sigma_t = scalar_coefficients(field.path, t)
    alpha_s, sigma_s = scalar_coefficients(field.path, s)
    if sigma_s == 0.0:
        return 0.0
    bridge = sigma_t**2 - (alpha_t / alpha_s) ** 2 * sigma_s**2
    return alpha_s**2 * bridge / (2.0 * sigma_t**2 * sigma_s**2)


class DRaFT(RewardFinetuning):
    """DRaFT-K with a KL penalty (module docstring); arguments as :class:`RewardFinetuning`."""

    field_type = GaussianField

    def rollout(self, template: dict[str, Tensor], context: Context, generator: torch.Generator
                ) -> tuple[Tensor, Tensor]:
        solvers = {name: field.make_solver(self.sampler) for name, field in self.fields.items()}
        for solver in solvers.values():
            if getattr(solver, "evals_per_step", 1) != 1:
                raise ConfigError(f"DRaFT needs a one-evaluation solver, got {self.sampler.solver!r}")
            solver.reset()
        times = self.sampler.grid_for(self.fields).tolist()
        final = self.sampler.denoise_final and any(f.needs_final_denoise(times[-1]) for f in self.fields.values())
        total = len(times) - 1 + int(final)
        state = {name: field.prior(template[name], context, generator) for name, field in self.fields.items()}
        kl = torch.zeros(len(next(iter(state.values()))), device=self.device)
        for index, (t, s) in enumerate(zip(times[:-1], times[1:], strict=True)):
            estimates, kl_step = self._estimates(state, t, s, context, self.in_gradient_window(index, total))
            kl = kl + kl_step
            state = {name: field.update(solvers[name], state[name], t, s, estimates[name], context, generator)
                     for name, field in self.fields.items()}
        if final:
            estimates, _ = self._estimates(state, times[-1], None, context, True)
            state = {name: field.final_estimate(state[name], estimates[name], times[-1], context)
                     for name, field in self.fields.items()}
        samples = {name: self.fields[name].finalize(x, context) for name, x in state.items()}
        return score(self.reward, samples, context, len(kl)), kl

    def _estimates(self, state: dict[str, Tensor], t: float, s: float | None, context: Context, with_grad: bool
                   ) -> tuple[dict[str, Tensor], Tensor]:
        size = len(next(iter(state.values())))
        t_batch = time_like(t, size, self.device)
        inputs = {name: field.network_input(state[name], t_batch) for name, field in self.fields.items()}
        outputs, for_kl, reference = self.evaluate(inputs, t_batch, context, with_grad)
        kl = torch.zeros(size, device=self.device)
        estimates = {}
        with torch.set_grad_enabled(with_grad):
            for name, field in self.fields.items():
                estimates[name] = field.denoised(outputs[name], state[name], t)
                weight = 0.0 if s is None else ddpm_kl_weight(field, t, s)
                if weight > 0:
                    fixed = state[name].detach()
                    difference = (field.denoised(for_kl[name], fixed, t) - field.denoised(reference[name], fixed, t)
                                  ) ** 2
                    mask = field.mask(context)
                    if mask is not None:
                        difference = difference * mask.reshape(mask.shape + (1,) * (difference.ndim - mask.ndim))
                    kl = kl + weight * difference.flatten(1).sum(1)
        return estimates, kl
