"""Reward-guided design: load a reward from a ``module:callable`` spec (``sciddm guide`` follows)."""

from __future__ import annotations

import importlib
from typing import Any

from sciddm.errors import ConfigError
from sciddm.rewards import Reward


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
