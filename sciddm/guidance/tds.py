r"""Twisted diffusion sampler (TDS; Wu et al. 2023): SMC with gradient-twisted proposals and exact weights.

Target: :math:`p^\star(x)\propto p_\theta(x)\exp(r(x)/\alpha)`. Like :func:`sciddm.guidance.particles.smc` the
twisting function is the look-ahead value :math:`v(x_t) = r(\hat x_0(x_t))/\alpha`; unlike it, particles are
proposed from a kernel tilted toward :math:`v`, and the weights carry the exact density ratio of the model's
kernel to the proposal, so the returned particle is still an exact draw from :math:`p^\star` as the number of
particles grows, while far fewer particles are wasted:

.. math:: w_s = \frac{p_\theta(x_s\mid x_t)\,e^{v(x_s)}}{\tilde p(x_s\mid x_t)\,e^{v(x_t)}},\qquad
          w_{\text{final}} = e^{r(x_0)/\alpha - v(x_{t_{\min}})}.

Proposals, per field:

* **Gaussian fields** with a stochastic one-step solver whose update is affine in the noise (``ddpm``,
  ``ddim`` with ``eta > 0``, ``euler_maruyama``): the model kernel is :math:`\mathcal N(m, c^2)` elementwise, with
  :math:`m` the update at zero noise and :math:`c` the update's noise coefficient (read off the solver as
  update(noise=1) - update(noise=0), so no solver is forked). The proposal is
  :math:`\mathcal N(m + c^2 g, c^2)` with :math:`g=\nabla_{x_t}v(x_t)` (through the network; TDS, Alg. 1), and
  :math:`\log\frac{p_\theta}{\tilde p}(x_s) = -\sum(c\,\varepsilon\,g + \tfrac12 c^2 g^2)` for
  :math:`x_s = m + c^2 g + c\,\varepsilon`.
* **Categorical fields**: the proposal is the solver's transition under the first-order tilted prediction of
  :mod:`sciddm.guidance.categorical_gradient` (:math:`\tilde p\propto\hat p\,e^{\nabla_{\hat p} v}`); the ratio is
  that of the two factorised transition probabilities at the drawn tokens (real positions only). This is TDS
  with the discrete first-order twist; no gradient through the network is needed. With a tempered categorical
  solver (``ancestral:temperature=tau``) :math:`p_\theta` above is the tempered sampler's model, and both kernels
  are taken from :meth:`~sciddm.solvers.categorical.CategoricalSolver.distribution`.

A step landing on a noise-free time is deterministic for Gaussian fields (the clean estimate) and gets no twist.
Resampling (multinomial) happens when the effective sample size falls below ``ess_threshold * P``. Costs per
returned sample: network evaluations ``(steps + final) * P`` (each with a backward pass when a Gaussian field
is twisted) and reward evaluations ``(steps + 1) * P`` (each with a gradient).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.fields import Context, Field, GaussianField
from sciddm.guidance.categorical_gradient import tilt
from sciddm.guidance.particles import (
    GuidedSamples,
    ParticleWalk,
    batch_size_of,
    check_particle_settings,
    group_rows,
    repeat_rows,
    resample_degenerate,
    select_rows,
)
from sciddm.rewards import Reward, score
from sciddm.sampling import Network, Sampler


def _values_and_gradients(walk: ParticleWalk, reward: Reward, state: dict[str, Tensor], t: float, temperature: float,
                          context: Context) -> tuple[dict[str, Tensor], Tensor, dict[str, Tensor]]:
    """Clean estimates, :math:`v(x_t)` [rows] and its gradients: w.r.t. :math:`x_t` for Gaussian fields (through
    the network), w.r.t. the predicted probabilities for categorical fields."""
    gaussian = [name for name, field in walk.fields.items() if isinstance(field, GaussianField)]
    rows = next(iter(state.values())).shape[0]
    with torch.enable_grad():
        inputs = {name: x.detach().requires_grad_(name in gaussian) for name, x in state.items()}
        with torch.set_grad_enabled(bool(gaussian)):
            estimates = walk.estimate(inputs, t)
        leaves = {name: (estimates[name] if name in gaussian else estimates[name].detach().requires_grad_(True))
                  for name in walk.fields}
        values = score(reward, leaves, context, rows) / temperature
        targets = [inputs[name] if name in gaussian else leaves[name] for name in walk.fields]
        gradients = torch.autograd.grad(values.sum(), targets, allow_unused=True)
    gradients = {name: torch.zeros_like(target) if gradient is None else gradient
                 for name, target, gradient in zip(walk.fields, targets, gradients, strict=True)}
    if not all(torch.isfinite(g).all() for g in gradients.values()):
        raise ConfigError(f"reward {reward.name!r} has a non-finite gradient")
    return {name: value.detach() for name, value in estimates.items()}, values.detach(), gradients


def _gaussian_proposal(field: GaussianField, solver, x: Tensor, t: float, s: float, estimate: Tensor,
                       gradient: Tensor, context: Context, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """A draw from the twisted Gaussian kernel and :math:`\\log p_\\theta/\\tilde p` per row."""
    if field.is_terminal(s):
        return field.update(solver, x, t, s, estimate, context, generator), x.new_zeros(x.shape[0])
    estimate = field.path.subspace.project(estimate, context)
    mean = solver.update(field.path, x, t, s, estimate, lambda: torch.zeros_like(x))
    scale = solver.update(field.path, x, t, s, estimate, lambda: torch.ones_like(x)) - mean
    if not (scale > 0).any():
        raise ConfigError(f"TDS needs a stochastic solver step for field {field!r}; this step is deterministic")
    shift = scale**2 * field.path.subspace.project(gradient, context)
    mask = field.mask(context)
    if mask is not None:
        shift = shift * mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)).to(x.dtype)
    eps = field.path.noise(x, context, generator)
    shift_in_noise_units = shift / scale.clamp_min(torch.finfo(scale.dtype).tiny)  # c g (0 where c = 0)
    log_ratio = -(eps * shift_in_noise_units + 0.5 * shift_in_noise_units**2).flatten(1).sum(1)
    return mean + shift + scale * eps, log_ratio


def _categorical_proposal(field: CategoricalField, solver, x: Tensor, t: float, s: float, probs: Tensor,
                          gradient: Tensor, context: Context, generator: torch.Generator | None
                          ) -> tuple[Tensor, Tensor]:
    """A draw from the transition under the tilted prediction and :math:`\\log p_\\theta/\\tilde p` per row. The
    solver tempers what it is given, so the gradient enters scaled by the temperature: the proposal is the
    first-order twist of the tempered model, :math:`p^{1/\\tau} e^{g}`, not :math:`p^{1/\\tau} e^{g/\\tau}`."""
    tilted = tilt(probs, gradient, solver.temperature)
    new = field.update(solver, x, t, s, tilted, context, generator)
    if field.is_terminal(s) and solver.final != "sample":
        raise ConfigError("TDS needs a sampled final step for categorical fields (not final=greedy)")
    model, proposal = (solver.distribution(field.path, x, t, s, p) for p in (probs, tilted))
    index = new[..., None].long()
    tiny = torch.finfo(model.dtype).tiny
    per_token = (model.gather(-1, index).clamp_min(tiny).log() - proposal.gather(-1, index).clamp_min(tiny).log())
    per_token = per_token.squeeze(-1)
    scored = field.scored_positions(x, context)
    if scored is not None:
        per_token = per_token * scored.to(per_token.dtype)
    return new, per_token.flatten(1).sum(1)


def _propose(walk: ParticleWalk, state: dict[str, Tensor], t: float, s: float, estimates: dict[str, Tensor],
             gradients: dict[str, Tensor], context: Context, generator: torch.Generator | None
             ) -> tuple[dict[str, Tensor], Tensor]:
    new, log_ratio = {}, 0.0
    for name, field in walk.fields.items():
        propose = _gaussian_proposal if isinstance(field, GaussianField) else _categorical_proposal
        if not isinstance(field, (GaussianField, CategoricalField)):
            raise ConfigError(f"TDS supports Gaussian and categorical fields; {name!r} is {type(field).__name__}")
        new[name], ratio = propose(field, walk.solvers[name], state[name], t, s, estimates[name], gradients[name],
                                   context, generator)
        log_ratio = log_ratio + ratio
    return new, log_ratio


def tds(network: Network, fields: dict[str, Field], template: dict[str, Tensor], context: Context,
        sampler: Sampler, reward: Reward, particles: int, temperature: float = 1.0, ess_threshold: float = 0.5,
        generator: torch.Generator | None = None, network_wrapper: Callable[[Network], Network] | None = None
        ) -> GuidedSamples:
    r"""TDS targeting :math:`p_\theta(x)\exp(r(x)/\alpha)` with ``particles`` per sample (module docstring)."""
    check_particle_settings("tds", particles, temperature, ess_threshold)
    if not reward.differentiable:
        raise ConfigError(f"tds needs a differentiable reward; {reward.name!r} is not")
    batch = batch_size_of(template)
    rows = batch * particles
    context = repeat_rows(context, particles)
    walk = ParticleWalk(network, fields, sampler, context, network_wrapper)
    state = {name: field.prior(like, context, generator)
             for (name, field), like in zip(fields.items(), repeat_rows(template, particles).values(), strict=True)}
    log_weights = torch.zeros(batch, particles, dtype=torch.float64)
    previous = torch.zeros(batch, particles, dtype=torch.float64)
    log_ratio = torch.zeros(rows, dtype=torch.float64)
    for t, s in zip(walk.times[:-1], walk.times[1:], strict=True):
        estimates, values, gradients = _values_and_gradients(walk, reward, state, t, temperature, context)
        values = values.double().cpu().reshape(batch, particles)
        log_weights += values - previous + log_ratio.double().cpu().reshape(batch, particles)
        index = resample_degenerate(log_weights, ess_threshold, generator)
        if index is not None:
            state, estimates, gradients = (select_rows(d, index) for d in (state, estimates, gradients))
            values = values.reshape(-1)[index].reshape(batch, particles)
        with torch.no_grad():
            state, log_ratio = _propose(walk, state, t, s, estimates, gradients, context, generator)
        previous = values
    with torch.no_grad():
        samples = walk.finish(state, None, context)
        final = score(reward, samples, context, rows)
    log_weights += (final.double().cpu().reshape(batch, particles) / temperature - previous
                    + log_ratio.double().cpu().reshape(batch, particles))
    chosen = group_rows(torch.multinomial(torch.softmax(log_weights, dim=1).float(), 1, generator=generator),
                          particles)
    reward_calls = len(walk.times)  # one value per step plus the final reward
    return GuidedSamples(select_rows(samples, chosen), final.reshape(-1)[chosen], walk.counted.calls * particles,
                         float(reward_calls * particles))
