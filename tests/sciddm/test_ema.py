"""The warmed-up EMA against the recursion written out by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sciddm.errors import ConfigError
from sciddm.lightning.ema import exponential_moving_average, warmup_decay


def run_ema(values: list[float], decay: float, warmup: bool) -> float:
    network = nn.Linear(1, 1, bias=False)
    ema = None
    for value in values:
        with torch.no_grad():
            network.weight.fill_(value)
        if ema is None:
            ema = exponential_moving_average(network, decay, warmup)
        ema.update_parameters(network)
    return ema.module.weight.item()


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_follows_the_recursion(warmup):
    values = [float(v) for v in torch.linspace(-1.0, 3.0, 40)]
    decay = 0.95
    expected = values[0]
    for n, value in enumerate(values[1:], start=1):
        d = min(decay, (1 + n) / (10 + n)) if warmup else decay
        expected = d * expected + (1 - d) * value
    assert run_ema(values, decay, warmup) == pytest.approx(expected, rel=1e-6)


def test_warmup_forgets_the_initial_weights_that_a_fixed_decay_keeps():
    """500 steps away from an initial weight 0 toward 1: the fixed 0.999 EMA keeps 0.999^500 of the start."""
    values = [0.0] + [1.0] * 500
    assert run_ema(values, 0.999, warmup=False) == pytest.approx(1 - 0.999**500, rel=1e-4)
    assert run_ema(values, 0.999, warmup=True) > 0.999
    assert warmup_decay(0.999, 1) == pytest.approx(2 / 11) and warmup_decay(0.999, 10**6) == 0.999


def test_bad_decay_is_a_config_error():
    with pytest.raises(ConfigError, match="ema_decay must be in"):
        exponential_moving_average(nn.Linear(1, 1), 1.5)
