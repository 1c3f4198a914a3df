r"""Particle methods for reward-guided sampling: best-of-N, SMC (twisted, with ESS-triggered resampling) and SVDD.

All three work over a *particle axis* kept apart from the batch axis: each of the ``B`` requested samples owns
``P`` particles, stored as ``B*P`` rows (row ``b*P + p``), and resampling or selection only ever mixes rows of
the same sample. They reuse each field's own update, so they work for continuous, categorical and joint states;
the per-step update must be stochastic and one-step (``ddpm``, ``euler_maruyama``, ``ddim`` with ``eta > 0``,
or any categorical solver), since particles are resampled between steps.

The target is the reward-tilted distribution :math:`p^\star(x)\propto p_\theta(x)\exp(r(x)/\alpha)`. Both SMC and
SVDD use the reward of the clean estimate as the look-ahead value, :math:`v(x_t) = r(\hat x_0(x_t))/\alpha`
(for categorical fields the estimate is a probability vector, so the reward must accept probabilities).

* **Best-of-N**: draw N independent samples, keep the highest-reward one (no tilting, a baseline).
* **SMC** (Wu et al. 2023, TDS without gradient twist; Doucet et al.): propose with the model's reverse kernel,
  weight by :math:`\exp(v(x_s) - v(x_t))`, starting from :math:`\exp(v(x_{t_{\max}}))` and ending with
  :math:`\exp(r(x_0)/\alpha - v(x_{t_{\min}}))`; the weights telescope to :math:`\exp(r(x_0)/\alpha)`, so the
  returned particle (drawn by final weight) is an exact draw from :math:`p^\star` as :math:`P\to\infty` whatever
  the quality of :math:`v`. Resampling (multinomial) happens when the effective sample size falls below
  ``ess_threshold * P``.
* **SVDD** (Li et al. 2024, value-based decoding): at each step draw K candidates from the reverse kernel,
  score each by its value and keep one: the best (``temperature=0``) or one drawn :math:`\propto
  \exp(v/\alpha)`. With the exact soft value function and soft selection this samples :math:`p^\star` as
  :math:`K\to\infty`; with :math:`r(\hat x_0)` it is an approximation.

Costs are reported per returned sample: network evaluations (rows evaluated / B) and reward evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from sciddm.errors import ConfigError
from sciddm.fields import Context, Field
from sciddm.rewards import Reward, score
from sciddm.sampling import CountingNetwork, Network, Sampler, make_estimator, sample_fields
from sciddm.self_conditioning import refuse_self_conditioned


@dataclass
class GuidedSamples:
    """Returned samples with their rewards and the cost paid per sample."""

    samples: dict[str, Tensor]
    rewards: Tensor
    network_evaluations: float
    reward_evaluations: float


def repeat_rows(tensors: dict[str, Tensor], n: int) -> dict[str, Tensor]:
    """Each row repeated ``n`` times in place: row ``b`` becomes rows ``b*n .. b*n+n-1``."""
    return {k: v.repeat_interleave(n, dim=0) for k, v in tensors.items()}


def select_rows(tensors: dict[str, Tensor], index: Tensor) -> dict[str, Tensor]:
    return {k: v[index] for k, v in tensors.items()}


def group_rows(local: Tensor, group_size: int) -> Tensor:
    """Turn per-group particle indices [B, M] into global row indices."""
    offsets = torch.arange(local.shape[0], device=local.device)[:, None] * group_size
    return (local + offsets).reshape(-1)


def check_particle_settings(method: str, particles: int, temperature: float, ess_threshold: float) -> None:
    """The settings shared by the SMC-type samplers (``smc``, ``tds``)."""
    if particles < 1 or temperature <= 0 or not 0 <= ess_threshold <= 1:
        raise ConfigError(f"{method} needs particles >= 1, temperature > 0 and 0 <= ess_threshold <= 1")


def resample_degenerate(log_weights: Tensor, ess_threshold: float, generator: torch.Generator | None
                        ) -> Tensor | None:
    """Multinomial resampling of the groups whose effective sample size fell below ``ess_threshold * P``.

    ``log_weights`` is [B, P]; the resampled groups' log-weights are reset to 0 in place. Returns the global row
    indices to gather (identity rows for untouched groups), or None when no group needs resampling.
    """
    batch, particles = log_weights.shape
    normalised = torch.softmax(log_weights, dim=1)
    resample = 1.0 / normalised.pow(2).sum(dim=1) < ess_threshold * particles
    if not resample.any():
        return None
    local = torch.arange(particles).expand(batch, particles).clone()
    local[resample] = torch.multinomial(normalised[resample].float(), particles, replacement=True,
                                        generator=generator)
    log_weights[resample] = 0.0
    return group_rows(local, particles)


class ParticleWalk:
    """Shared machinery: counted network, estimator, stochastic one-step solvers and the time grid."""

    def __init__(self, network: Network, fields: dict[str, Field], sampler: Sampler, context: Context,
                 network_wrapper: Callable[[Network], Network] | None):
        self.fields = fields
        self.sampler = sampler
        self.context = context
        refuse_self_conditioned(network, "particle guidance (SMC/TDS, SVDD)")
        self.counted = CountingNetwork(network)
        self.call = network_wrapper(self.counted) if network_wrapper is not None else self.counted
        self.estimate = make_estimator(self.call, fields, context)
        self.solvers = {name: field.make_solver(sampler) for name, field in fields.items()}
        for name, solver in self.solvers.items():
            if not getattr(solver, "stochastic", True) or getattr(solver, "evals_per_step", 1) != 1:
                raise ConfigError(f"particle methods need a stochastic one-step solver for field {name!r} "
                                  f"(e.g. ddpm, euler_maruyama), got {sampler.solver!r}")
        self.times = sampler.grid_for(fields).tolist()

    def step(self, state: dict[str, Tensor], t: float, s: float, estimates: dict[str, Tensor],
             context: Context, generator: torch.Generator | None) -> dict[str, Tensor]:
        return {name: field.update(self.solvers[name], state[name], t, s, estimates[name], context, generator)
                for name, field in self.fields.items()}

    def terminal(self, s: float) -> bool:
        return all(field.is_terminal(s) for field in self.fields.values())

    def finish(self, state: dict[str, Tensor], estimates: dict[str, Tensor] | None, context: Context
               ) -> dict[str, Tensor]:
        """Final clean estimate at ``t_min`` where noise remains (reusing ``estimates`` when given), then
        :meth:`Field.finalize`."""
        t_min = self.times[-1]
        if self.sampler.denoise_final and any(f.needs_final_denoise(t_min) for f in self.fields.values()):
            estimates = estimates if estimates is not None else self.estimate(state, t_min)
            state = {name: field.final_estimate(state[name], estimates[name], t_min, context)
                     for name, field in self.fields.items()}
        return {name: self.fields[name].finalize(x, context) for name, x in state.items()}


def batch_size_of(template: dict[str, Tensor]) -> int:
    return next(iter(template.values())).shape[0]


def best_of_n(network: Network, fields: dict[str, Field], template: dict[str, Tensor], context: Context,
              sampler: Sampler, reward: Reward, n: int, generator: torch.Generator | None = None,
              network_wrapper: Callable[[Network], Network] | None = None) -> GuidedSamples:
    """Draw ``n`` samples per request with the plain sampler and keep the one with the highest reward."""
    if n < 1:
        raise ConfigError(f"best-of-N needs n >= 1, got {n}")
    batch = batch_size_of(template)
    samples, nfe = sample_fields(network, fields, repeat_rows(template, n), repeat_rows(context, n), sampler,
                                 generator, network_wrapper=network_wrapper)
    rewards = score(reward, samples, repeat_rows(context, n), batch * n).reshape(batch, n)
    best = group_rows(rewards.argmax(dim=1, keepdim=True), n)
    return GuidedSamples(select_rows(samples, best), rewards.max(dim=1).values, float(nfe * n), float(n))


def smc(network: Network, fields: dict[str, Field], template: dict[str, Tensor], context: Context,
        sampler: Sampler, reward: Reward, particles: int, temperature: float = 1.0, ess_threshold: float = 0.5,
        generator: torch.Generator | None = None, network_wrapper: Callable[[Network], Network] | None = None
        ) -> GuidedSamples:
    r"""Twisted SMC targeting :math:`p_\theta(x)\exp(r(x)/\alpha)` with ``particles`` per sample (module docstring)."""
    check_particle_settings("smc", particles, temperature, ess_threshold)
    batch, rows = batch_size_of(template), batch_size_of(template) * particles
    context = repeat_rows(context, particles)
    walk = ParticleWalk(network, fields, sampler, context, network_wrapper)
    state = {name: field.prior(t, context, generator)
             for (name, field), t in zip(fields.items(), repeat_rows(template, particles).values(), strict=True)}
    log_weights = torch.zeros(batch, particles)
    previous = torch.zeros(batch, particles)
    reward_calls = 0
    estimates = None
    for t, s in zip(walk.times[:-1], walk.times[1:], strict=True):
        estimates = walk.estimate(state, t)
        value = (score(reward, estimates, context, rows) / temperature).reshape(batch, particles).cpu()
        reward_calls += 1
        log_weights += value - previous
        index = resample_degenerate(log_weights, ess_threshold, generator)
        if index is not None:
            state, estimates = select_rows(state, index), select_rows(estimates, index)
            value = value.reshape(-1)[index].reshape(batch, particles)
        state = walk.step(state, t, s, estimates, context, generator)
        previous = value
        estimates = None
    samples = walk.finish(state, estimates, context)
    final = score(reward, samples, context, rows).reshape(batch, particles)
    reward_calls += 1
    log_weights += final.cpu() / temperature - previous
    chosen = group_rows(torch.multinomial(torch.softmax(log_weights, dim=1), 1, generator=generator), particles)
    return GuidedSamples(select_rows(samples, chosen), final.reshape(-1)[chosen],
                         walk.counted.calls * particles, float(reward_calls * particles))


def svdd(network: Network, fields: dict[str, Field], template: dict[str, Tensor], context: Context,
         sampler: Sampler, reward: Reward, candidates: int, temperature: float = 0.0,
         generator: torch.Generator | None = None, network_wrapper: Callable[[Network], Network] | None = None
         ) -> GuidedSamples:
    """Value-based decoding with ``candidates`` proposals per step; greedy at ``temperature=0`` (module docstring)."""
    if candidates < 1 or temperature < 0:
        raise ConfigError("svdd needs candidates >= 1 and temperature >= 0")
    batch = batch_size_of(template)
    walk = ParticleWalk(network, fields, sampler, repeat_rows(context, candidates), network_wrapper)
    many = walk.context
    state = {name: field.prior(template[name], context, generator) for name, field in fields.items()}
    estimates = make_estimator(walk.call, fields, context)(state, walk.times[0])
    reward_calls = 0
    for t, s in zip(walk.times[:-1], walk.times[1:], strict=True):
        proposals = walk.step(repeat_rows(state, candidates), t, s, repeat_rows(estimates, candidates), many,
                              generator)
        proposal_estimates = proposals if walk.terminal(s) else walk.estimate(proposals, s)
        value = score(reward, proposal_estimates, many, batch * candidates).reshape(batch, candidates)
        reward_calls += 1
        if temperature == 0:
            local = value.argmax(dim=1, keepdim=True)
        else:
            local = torch.multinomial(torch.softmax(value / temperature, dim=1), 1, generator=generator)
        index = group_rows(local, candidates)
        state, estimates = select_rows(proposals, index), select_rows(proposal_estimates, index)
    samples = walk.finish(state, estimates, context)
    rewards = score(reward, samples, context, batch)
    network_rows = batch + (walk.counted.calls - 1) * batch * candidates  # the first call sees B rows
    return GuidedSamples(samples, rewards, network_rows / batch, float(reward_calls * candidates + 1))
