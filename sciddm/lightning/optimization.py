"""Learning-rate schedule and per-parameter-group learning rates of :class:`sciddm.lightning.DiffusionModule`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from torch import nn

from sciddm.errors import ConfigError

LR_DECAYS = ("constant", "cosine")


def learning_rate_factor(step: int, warmup_steps: int, total_steps: int | None = None) -> float:
    r"""Multiplier of the base learning rate at optimiser step ``step`` (0-based).

    Linear warm-up :math:`\min(1, (s+1)/W)`; with ``total_steps`` :math:`T` (cosine decay) it is multiplied by
    :math:`\tfrac12(1+\cos(\pi p))`, :math:`p=\mathrm{clip}((s-W)/(T-W), 0, 1)`, reaching 0 at the last step.
    """
    factor = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if total_steps is None:
        return factor
    progress = min(1.0, max(0.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)))
    return factor * 0.5 * (1.0 + math.cos(math.pi * progress))


def check_lr_multipliers(multipliers: Mapping[str, float]) -> dict[re.Pattern, float]:
    """Compile ``{regular expression: factor}``; a bad pattern or a negative or non-finite factor is a
    :class:`ConfigError` naming the entry."""
    compiled = {}
    for pattern, factor in multipliers.items():
        try:
            compiled[re.compile(pattern)] = factor = float(factor)
        except (re.error, TypeError) as error:
            raise ConfigError(f"lr_multipliers: {pattern!r} is not a regular expression ({error})") from None
        except ValueError:
            raise ConfigError(f"lr_multipliers: the factor of {pattern!r} must be a number, got {factor!r}") from None
        if not math.isfinite(factor) or factor < 0:
            raise ConfigError(f"lr_multipliers: the factor of {pattern!r} must be finite and >= 0, got {factor}")
    return compiled


def parameter_groups(network: nn.Module, lr: float, multipliers: Mapping[str, float]) -> list[dict]:
    """Optimiser parameter groups with learning rate ``lr * factor``.

    Each trainable parameter takes the factor of the first pattern (in the mapping's order) that matches the start
    of its name in ``network.named_parameters()`` (``re.match``), else 1; one group per distinct factor, in order of
    first appearance. A pattern that matches no parameter is a :class:`ConfigError` (almost always a misspelt name).
    Learning-rate schedules scale every group's rate by the same factor, so the ratios hold throughout training.
    """
    compiled = check_lr_multipliers(multipliers)
    used = set()
    groups: dict[float, list[nn.Parameter]] = {}
    for name, parameter in network.named_parameters():
        if not parameter.requires_grad:
            continue
        factor = 1.0
        for pattern, candidate in compiled.items():
            if pattern.match(name):
                factor = candidate
                used.add(pattern)
                break
        groups.setdefault(factor, []).append(parameter)
    unused = [pattern.pattern for pattern in compiled if pattern not in used]
    if unused:
        raise ConfigError(f"lr_multipliers: {unused} match no parameter of {type(network).__name__} "
                          f"(names look like {next((name for name, _ in network.named_parameters()), '<none>')!r})")
    return [{"params": params, "lr": lr * factor} for factor, params in groups.items()]
