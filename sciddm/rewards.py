r"""Rewards: functions of clean samples that guided sampling and fine-tuning maximise.

A reward maps a batch of clean samples (a field dict, plus the context) to a tensor of scores ``[B]``. It says
whether it is ``differentiable`` with respect to the continuous fields (and, for categorical fields, with
respect to probability vectors ``[..., K]`` standing in for one-hot samples, the first-order relaxation used by
gradient guidance and DRAKES). Rewards compose: :class:`WeightedSum` adds them, :class:`Penalty` turns a
constraint :math:`g(x)\le 0` into :math:`-w\,\max(g(x), 0)`. :func:`score` evaluates a reward and checks its
output, so a reward that returns NaN or the wrong shape fails with a clear message instead of silently steering.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from sciddm.errors import ConfigError

Samples = dict[str, Tensor]
Context = dict[str, Tensor]


class Reward:
    """Base class: subclasses implement ``__call__(samples, context) -> Tensor[B]``."""

    differentiable: bool = False
    name: str = "reward"

    def __call__(self, samples: Samples, context: Context) -> Tensor:
        raise NotImplementedError


class FunctionReward(Reward):
    """A plain function ``f(samples, context) -> [B]`` as a reward."""

    def __init__(self, function: Callable[[Samples, Context], Tensor], differentiable: bool = False,
                 name: str | None = None):
        self.function = function
        self.differentiable = differentiable
        self.name = name or getattr(function, "__name__", "reward")

    def __call__(self, samples: Samples, context: Context) -> Tensor:
        return self.function(samples, context)


class ModelReward(Reward):
    """A trained network (an oracle) reading one field: ``model(samples[field]) -> [B]`` (or ``[B, 1]``).

    The model is put in eval mode and never trained here; gradients flow through it to the samples, so it is
    differentiable.
    """

    differentiable = True

    def __init__(self, model: nn.Module, field: str, name: str = "oracle"):
        self.model = model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.field = field
        self.name = name

    def __call__(self, samples: Samples, context: Context) -> Tensor:
        return self.model(samples[self.field]).reshape(-1)


class WeightedSum(Reward):
    r""":math:`\sum_i w_i r_i(x)`; differentiable when every term is."""

    def __init__(self, rewards: Sequence[Reward], weights: Sequence[float]):
        if len(rewards) != len(weights) or not rewards:
            raise ConfigError("WeightedSum needs one weight per reward and at least one reward")
        self.rewards = list(rewards)
        self.weights = list(weights)
        self.differentiable = all(r.differentiable for r in self.rewards)
        self.name = " + ".join(f"{w:g}*{r.name}" for r, w in zip(self.rewards, self.weights, strict=True))

    def __call__(self, samples: Samples, context: Context) -> Tensor:
        return sum(w * r(samples, context) for r, w in zip(self.rewards, self.weights, strict=True))


class Penalty(Reward):
    r"""A constraint :math:`g(x)\le 0` as the reward :math:`-w\max(g(x), 0)`."""

    def __init__(self, constraint: Reward, weight: float = 1.0):
        self.constraint = constraint
        self.weight = weight
        self.differentiable = constraint.differentiable
        self.name = f"penalty({constraint.name})"

    def __call__(self, samples: Samples, context: Context) -> Tensor:
        return -self.weight * torch.relu(self.constraint(samples, context))


def score(reward: Reward, samples: Samples, context: Context, batch_size: int) -> Tensor:
    """Evaluate ``reward`` and check it returned ``batch_size`` finite scores."""
    values = reward(samples, context)
    if not isinstance(values, Tensor) or values.shape != (batch_size,):
        shape = tuple(values.shape) if isinstance(values, Tensor) else type(values).__name__
        raise ConfigError(f"reward {reward.name!r} must return a tensor of shape ({batch_size},), got {shape}")
    if not torch.isfinite(values).all():
        bad = int((~torch.isfinite(values)).nonzero()[0])
        raise ConfigError(f"reward {reward.name!r} returned a non-finite value ({values[bad].item()}) "
                          f"for sample {bad}")
    return values


def load_reward(spec: str, arguments: dict[str, Any] | None = None) -> Reward:
    """Call ``callable(**arguments)`` named by ``spec = "package.module:callable"``; it must return a Reward."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigError(f"reward spec {spec!r} must be written 'package.module:callable'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"reward spec {spec!r}: cannot import {module_name!r} ({error})") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ConfigError(f"reward spec {spec!r}: {module_name!r} has no callable {attribute!r}")
    try:
        reward = factory(**(arguments or {}))
    except TypeError as error:
        raise ConfigError(f"reward spec {spec!r}: bad arguments {sorted(arguments or {})} ({error})") from None
    if not isinstance(reward, Reward):
        raise ConfigError(f"reward spec {spec!r} returned {type(reward).__name__}, not a sciddm.rewards.Reward")
    return reward
