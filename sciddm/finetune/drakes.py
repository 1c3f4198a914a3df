r"""DRAKES (Wang et al. 2024): reward fine-tuning of categorical diffusion through a Gumbel-softmax trajectory.

The rollout is the ancestral sampler (the module's ``sampler.steps`` on the uniform grid) run on *relaxed*
one-hot states: at each step the model's transition :math:`p_\theta(x_s\mid x_t)` (the posterior under the predicted
clean distribution, :meth:`~sciddm.paths.categorical.CategoricalPath.posterior`; on the final step the prediction
itself) is drawn with the Gumbel-softmax trick (Jang et al. 2017), :math:`y=\mathrm{softmax}((\log p+G)/\tau)`, and
the relaxed state is fed to the network as its (float one-hot) input. With ``hard=True`` (straight-through) the
forward value is the exact categorical draw :math:`\arg\max(\log p+G)` and only the gradient uses :math:`y`, so the
trajectory is an exact sample of the model. The reward reads the relaxed final one-hot ``[..., K]``.

The transition is a differentiable function of the relaxed state: with :math:`P_k` the transition from the hard
state :math:`k` (prediction and mask-prior carry-over evaluated at :math:`x_t=k`), the relaxed transition is
:math:`\sum_k x_t[k]\,P_k`, which equals the exact one on hard states. Gradients reach the network output only
through the column of the current (argmax) state; the other columns, whose weights are zero on straight-through
states, enter by value (this also keeps the normalisation of transitions from impossible states, which are
all-zero, out of the backward pass).

KL to the reference, per step: :math:`\sum_i\mathrm{KL}(p_\theta(x_s^i\mid x_t)\,\|\,p_{\text{ref}}(x_s^i\mid x_t))`
over real tokens (for the mask prior only masked tokens contribute). Summed over the trajectory this is the KL
between the two models' path measures along the sampled path (its expectation is the path KL that upper-bounds
:math:`\mathrm{KL}(p_\theta(x_0)\,\|\,p_{\text{ref}}(x_0))`). Symmetric (edge) fields are not supported.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.fields import Context, Field, time_like
from sciddm.finetune.base import RewardFinetuning
from sciddm.rewards import Reward, score
from sciddm.sampling import Sampler
from sciddm.solvers.categorical import Ancestral, Cached, make_categorical_solver


def relaxed_transition(field: CategoricalField, output: Tensor, x_t: Tensor, t: float, s: float | None) -> Tensor:
    """:math:`\\sum_k x_t[k] P_k` (module docstring): ``[..., M]``; the prediction ``[..., K]`` if ``s`` is None."""
    current = x_t.argmax(-1)
    columns = []
    for k in range(field.path.num_states):
        state = torch.full(x_t.shape[:-1], k, dtype=torch.long, device=x_t.device)
        probs = field.denoised(output, state, t)
        column = probs if s is None else field.path.posterior(state, probs, t, s)
        columns.append(torch.where((current == k)[..., None], column, column.detach()))
    return torch.einsum("...k,...kj->...j", x_t, torch.stack(columns, dim=-2))


def gumbel_softmax(probs: Tensor, temperature: float, hard: bool, generator: torch.Generator | None) -> Tensor:
    """A relaxed draw from ``probs`` [..., M]; straight-through (exact forward draw) when ``hard``."""
    uniform = torch.rand(probs.shape, generator=generator, device=probs.device, dtype=probs.dtype)
    logits = probs.clamp_min(1e-30).log() - torch.log(-torch.log(uniform.clamp(1e-20, 1.0 - 1e-7)))
    soft = torch.softmax(logits / temperature, dim=-1)
    if not hard:
        return soft
    return F.one_hot(logits.argmax(-1), probs.shape[-1]).to(soft.dtype) + soft - soft.detach()


def categorical_kl(p: Tensor, q: Tensor) -> Tensor:
    """:math:`\\sum_j p_j\\log(p_j/q_j)` over the last axis (0 log 0 = 0)."""
    tiny = torch.finfo(p.dtype).tiny  # clamped logs keep the gradient finite at p = 0 (xlogy's is not)
    return (p * (p.clamp_min(tiny).log() - q.clamp_min(tiny).log())).sum(-1)


class DRAKES(RewardFinetuning):
    """DRAKES (module docstring). ``gumbel_temperature`` is :math:`\\tau`; ``hard`` selects straight-through.
    Other arguments as :class:`RewardFinetuning`."""

    field_type = CategoricalField

    def __init__(self, network: nn.Module, fields: dict[str, Field], reward: str | Reward,
                 reward_args: dict[str, Any] | None = None, pretrained: str | None = None, kl_weight: float = 0.0,
                 grad_steps: int = 1, gradient_checkpointing: bool = False, gumbel_temperature: float = 1.0,
                 hard: bool = True, lr: float = 1e-4, weight_decay: float = 0.0, warmup_steps: int = 0,
                 ema_decay: float | None = None, sampler: Sampler | None = None, val_num_samples: int = 0,
                 seed: int = 0):
        super().__init__(network, fields, reward, reward_args, pretrained, kl_weight, grad_steps,
                         gradient_checkpointing, lr, weight_decay, warmup_steps, ema_decay, sampler, val_num_samples,
                         seed)
        if gumbel_temperature <= 0:
            raise ConfigError(f"gumbel_temperature must be > 0, got {gumbel_temperature}")
        symmetric = [name for name, field in self.fields.items() if field.symmetric]
        if symmetric:
            raise ConfigError(f"DRAKES does not support symmetric (edge) fields: {symmetric}")
        solver = make_categorical_solver(self.sampler.categorical_solver)
        if type(solver) not in (Ancestral, Cached) or solver.temperature != 1.0 or solver.final != "sample":
            raise ConfigError(f"DRAKES rollouts take plain ancestral steps; categorical solver "
                              f"{self.sampler.categorical_solver!r} is not supported (use 'ancestral')")
        self.gumbel_temperature = gumbel_temperature
        self.hard = hard

    def rollout(self, template: dict[str, Tensor], context: Context, generator: torch.Generator
                ) -> tuple[Tensor, Tensor]:
        times = self.sampler.grid_for(self.fields).tolist()
        steps: list[tuple[float, float | None]] = []
        for t, s in zip(times[:-1], times[1:], strict=True):
            final = all(field.is_terminal(s) for field in self.fields.values())
            steps.append((t, None if final else s))
        if steps[-1][1] is not None:  # the grid stops at t_min > 0: draw x0 from the prediction there
            steps.append((times[-1], None))
        state = {}
        for name, field in self.fields.items():
            prior = field.prior(template[name], context, generator)
            state[name] = F.one_hot(prior.long(), field.path.num_states).to(torch.get_default_dtype())
        size = len(next(iter(template.values())))
        kl = torch.zeros(size, device=self.device)
        for index, (t, s) in enumerate(steps):
            with_grad = self.in_gradient_window(index, len(steps))
            t_batch = time_like(t, size, self.device)
            outputs, for_kl, reference = self.evaluate(state, t_batch, context, with_grad)
            with torch.set_grad_enabled(with_grad):
                new_state = {}
                for name, field in self.fields.items():
                    model = relaxed_transition(field, outputs[name], state[name], t, s)
                    fixed = state[name].detach()
                    per_token = categorical_kl(relaxed_transition(field, for_kl[name], fixed, t, s),
                                               relaxed_transition(field, reference[name], fixed, t, s))
                    real = field.real_positions(template[name], context)
                    if real is not None:
                        per_token = per_token * real.to(per_token.dtype)
                    kl = kl + per_token.flatten(1).sum(1)
                    drawn = gumbel_softmax(model, self.gumbel_temperature, self.hard, generator)
                    old = state[name] if s is not None else state[name][..., : field.num_classes]
                    new_state[name] = drawn if real is None else torch.where(real[..., None], drawn, old)
            state = new_state
        return score(self.reward, state, context, size), kl
