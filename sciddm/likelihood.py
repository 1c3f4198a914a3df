r"""Per-sample NELBO of categorical fields in bits per token: a likelihood bound usable as a naturalness score.

For a sample :math:`x_0` with categorical fields (:class:`~sciddm.categorical_fields.CategoricalField`), the
continuous-time bound of :mod:`sciddm.paths.categorical`,

.. math:: \mathrm{NELBO}(x_0) = (1-t_{\min})\,\mathbb E_{t\sim U[t_{\min},1]}\,\mathbb E_{x_t}\Big[\sum_i
          \ell_i(x_t, t)\Big] + \mathbb E_{x_{t_{\min}}}\Big[\sum_i -\log p_\theta(x_0^i\mid x_{t_{\min}})\Big],

is estimated by Monte Carlo with ``num_times`` antithetic (stratified) times per sample,
:math:`t_j = t_{\min} + (1-t_{\min})\,((u + j/n) \bmod 1)` with one uniform :math:`u` per sample, one draw of
:math:`x_t` per time and one more at :math:`t_{\min}` for the reconstruction term; then divided by the number of
scored tokens and by :math:`\ln 2`. In expectation it upper-bounds :math:`-\log_2 p_\theta(x_0)/\#\text{tokens}`.
Every call costs ``num_times + 1`` network evaluations per sample and uses the EMA weights when kept.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError


def antithetic_times(batch: int, num_times: int, t_min: float, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None) -> Tensor:
    """[B, n] stratified times in ``[t_min, 1)`` (see the module docstring)."""
    u = torch.rand(batch, 1, generator=generator, device=device, dtype=torch.float64)
    strata = torch.arange(num_times, device=device, dtype=torch.float64) / num_times
    return t_min + (1.0 - t_min) * torch.remainder(u + strata, 1.0)


@torch.no_grad()
def nelbo_bits_per_token(module, batch, num_times: int = 16, generator: torch.Generator | None = None) -> Tensor:
    """NELBO per sample [B] in bits per token for a :class:`~sciddm.lightning.DiffusionModule` and a batch.

    Every field of the module must be categorical; ``batch`` is any layout ``module.split_batch`` accepts.
    """
    if num_times < 1:
        raise ConfigError(f"num_times must be >= 1, got {num_times}")
    fields = module.fields
    if not all(isinstance(field, CategoricalField) for field in fields.values()):
        raise ConfigError("the NELBO estimate needs a model whose fields are all categorical")
    x0, context = module.split_batch(batch)
    device = module.device
    x0 = {k: v.to(device) for k, v in x0.items()}
    context = {k: v.to(device) for k, v in context.items()}
    size = next(iter(x0.values())).shape[0]
    t_min = max(field.t_range[0] for field in fields.values())
    times = antithetic_times(size, num_times, t_min, generator, device)
    scored = {name: field.scored_positions(x0[name], context) for name, field in fields.items()}
    network = module.sampling_network
    was_training = network.training
    network.eval()
    try:
        total = torch.zeros(size, dtype=torch.float64, device=device)
        for j in range(num_times + 1):
            t = times[:, j] if j < num_times else torch.full((size,), t_min, dtype=torch.float64, device=device)
            noisy = {name: field.corrupt(x0[name], t, context, generator)[0] for name, field in fields.items()}
            inputs = {name: field.network_input(noisy[name], t.float()) for name, field in fields.items()}
            outputs = network(inputs, t.float(), context)
            for name, field in fields.items():
                if j < num_times:
                    per_token = field.path.nelbo(noisy[name], x0[name], field.denoised(outputs[name], noisy[name], t),
                                                 t) * (1.0 - t_min) / num_times
                else:
                    per_token = field.path.reconstruction(x0[name], field.denoised(outputs[name], noisy[name], t))
                total += _sum_tokens(per_token, scored[name])
    finally:
        network.train(was_training)
    tokens = sum(_sum_tokens(torch.ones_like(x0[name], dtype=torch.float64), scored[name]) for name in fields)
    return total / tokens / math.log(2.0)


def _sum_tokens(values: Tensor, positions: Tensor | None) -> Tensor:
    values = values.double()
    if positions is not None:
        values = values * positions.double()
    return values.flatten(1).sum(1)
