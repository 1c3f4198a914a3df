r"""Exponential moving average of the network weights, with the usual warm-up of the decay.

After the first update copies the weights, update :math:`n\ge 1` is

.. math::  \bar W_n = d_n\,\bar W_{n-1} + (1-d_n)\,W_n, \qquad d_n = \min\Bigl(d,\ \frac{1+n}{10+n}\Bigr)

(the warm-up of TensorFlow's ``ExponentialMovingAverage(num_updates=...)``). A fixed :math:`d=0.999` keeps
:math:`0.999^{500}\approx 0.61` of the *initial* weights after 500 steps, so a short CPU run would sample from a
network that is mostly untrained; with the warm-up the average spans about the last :math:`n/9` steps early on and
the last :math:`1/(1-d)` steps once :math:`n` is large.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from sciddm.errors import ConfigError


def warmup_decay(decay: float, num_updates: int) -> float:
    """:math:`d_n = \\min(d, (1+n)/(10+n))` (module docstring)."""
    return min(decay, (1 + num_updates) / (10 + num_updates))


def ema_update(decay: float, warmup: bool) -> Callable[[list[Tensor], list[Tensor], Tensor], None]:
    """The ``multi_avg_fn`` of :class:`~torch.optim.swa_utils.AveragedModel` for a (warmed-up) EMA."""

    @torch.no_grad()
    def update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        d = warmup_decay(decay, int(num_averaged)) if warmup else decay
        if torch.is_floating_point(averaged[0]) or torch.is_complex(averaged[0]):
            torch._foreach_lerp_(averaged, current, 1 - d)
        else:  # integer buffers (e.g. batch-norm counters)
            for a, c in zip(averaged, current, strict=True):
                a.copy_(a * d + c * (1 - d))

    return update


def exponential_moving_average(network: nn.Module, decay: float, warmup: bool = True) -> AveragedModel:
    """An EMA copy of ``network`` (parameters and buffers); call ``update_parameters(network)`` after each step."""
    if not 0.0 < decay < 1.0:
        raise ConfigError(f"ema_decay must be in (0, 1), got {decay}")
    return AveragedModel(network, multi_avg_fn=ema_update(decay, warmup), use_buffers=True)
