"""Self-conditioning: the sampler hands each evaluation the previous one's estimate, training feeds the detached
first-pass estimate, and the methods that cannot carry estimates refuse such a network."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sciddm import DiffusionModule, GaussianField, LinearFlow
from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.finetune import DRaFT
from sciddm.guidance.particles import smc, svdd
from sciddm.paths.categorical import LogLinear
from sciddm.sampling import Sampler, sample_fields
from sciddm.self_conditioning import SELF_CONDITION
from sciddm.toy import MLPDenoiser
from tests.sciddm.guidance.gaussian_setup import FIELD, REWARD, SAMPLER


class RecordingDenoiser(nn.Module):
    """x0 = tanh(w x + t) + 0.3 * previous estimate; records the estimate each call received (None if absent)."""

    self_conditioning = True

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(0.8))
        self.received: list[torch.Tensor | None] = []
        self.returned: list[torch.Tensor] = []
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x_t, t, context):
        previous = context.get(SELF_CONDITION, {}).get("x")
        self.received.append(None if previous is None else previous.clone())
        self.inputs.append((x_t["x"].detach().clone(), t.detach().clone()))
        out = torch.tanh(self.weight * x_t["x"] + t[:, None])
        if previous is not None:
            out = out + 0.3 * previous
        self.returned.append(out.detach().clone())
        return {"x": out}


X0_FIELD = GaussianField(LinearFlow(), "x0")


@pytest.mark.parametrize("solver", ["ddim", "dpmpp_2m", "heun"])
def test_each_evaluation_receives_the_previous_estimate(solver):
    network = RecordingDenoiser()
    template = {"x": torch.zeros(5, 3)}
    with torch.no_grad():
        _, nfe = sample_fields(network, {"x": X0_FIELD}, template, {}, Sampler(solver=solver, steps=6),
                               torch.Generator().manual_seed(0))
    assert nfe == len(network.received) > 1
    assert network.received[0] is None
    for received, returned_before in zip(network.received[1:], network.returned[:-1], strict=True):
        torch.testing.assert_close(received, returned_before)  # x0 prediction: estimate = output (to rounding)


def test_a_network_without_the_flag_never_sees_an_estimate():
    network = RecordingDenoiser()
    network.self_conditioning = False
    with torch.no_grad():
        sample_fields(network, {"x": X0_FIELD}, {"x": torch.zeros(2, 3)}, {}, Sampler(solver="ddim", steps=4))
    assert network.received == [None] * 4


def batch(size: int = 6) -> dict[str, torch.Tensor]:
    return {"x": torch.randn(size, 3, generator=torch.Generator().manual_seed(1))}


def test_training_feeds_the_detached_first_pass_estimate():
    network = RecordingDenoiser()
    module = DiffusionModule(network, {"x": X0_FIELD}, ema_decay=None, self_conditioning_rate=1.0)
    loss, _ = module.diffusion_loss(network, batch(), torch.Generator().manual_seed(0))
    first, second = network.received
    assert first is None
    torch.testing.assert_close(second, network.returned[0])
    assert not second.requires_grad
    loss.backward()
    # the gradient flows through the second pass only: recompute it with the estimate held as a constant
    x_t, t = network.inputs[1]
    weight = network.weight.detach().clone().requires_grad_(True)
    out = torch.tanh(weight * x_t + t[:, None]) + 0.3 * second
    ((out - batch()["x"]) ** 2).mean().backward()
    torch.testing.assert_close(network.weight.grad, weight.grad)


@pytest.mark.parametrize(("rate", "flag", "calls"), [(0.0, True, 1), (0.5, False, 1), (1.0, False, 1)])
def test_no_first_pass_without_rate_or_flag(rate, flag, calls):
    network = RecordingDenoiser()
    network.self_conditioning = flag
    module = DiffusionModule(network, {"x": X0_FIELD}, ema_decay=None, self_conditioning_rate=rate)
    module.diffusion_loss(network, batch(), torch.Generator().manual_seed(0))
    assert network.received == [None] * calls


def test_rate_half_self_conditions_about_half_of_the_batches():
    network = RecordingDenoiser()
    module = DiffusionModule(network, {"x": X0_FIELD}, ema_decay=None, self_conditioning_rate=0.5)
    generator = torch.Generator().manual_seed(3)
    for _ in range(400):
        module.diffusion_loss(network, batch(2), generator)
    conditioned = sum(received is not None for received in network.received)
    assert len(network.received) == 400 + conditioned
    assert 160 <= conditioned <= 240  # Binomial(400, 0.5): mean 200, sd 10


def test_rate_outside_the_unit_interval_is_refused():
    with pytest.raises(ConfigError, match="self_conditioning_rate"):
        DiffusionModule(RecordingDenoiser(), {"x": X0_FIELD}, self_conditioning_rate=1.5)


def test_mlp_denoiser_reads_zeros_when_there_is_no_estimate():
    torch.manual_seed(0)
    network = MLPDenoiser(dim=2, hidden=8, depth=1, self_conditioning=True)
    x, t = {"x": torch.randn(4, 2)}, torch.rand(4)
    zeros = {SELF_CONDITION: {"x": torch.zeros(4, 2)}}
    torch.testing.assert_close(network(x, t, {})["x"], network(x, t, zeros)["x"], rtol=0, atol=0)
    assert not torch.allclose(network(x, t, {SELF_CONDITION: {"x": torch.ones(4, 2)}})["x"], network(x, t, {})["x"])


def test_methods_that_cannot_carry_estimates_refuse_a_self_conditioned_network():
    network = RecordingDenoiser()
    with pytest.raises(ConfigError, match="particle"):
        smc(network, {"x": FIELD}, {"x": torch.zeros(2, 2)}, {}, SAMPLER, REWARD, 2)
    with pytest.raises(ConfigError, match="particle"):
        svdd(network, {"x": FIELD}, {"x": torch.zeros(2, 2)}, {}, SAMPLER, REWARD, 2)
    with pytest.raises(ConfigError, match="fine-tuning"):
        DRaFT(network, {"x": FIELD}, REWARD)
    masked = CategoricalField(3, "mask", LogLinear())
    with pytest.raises(ConfigError, match="cached sampler"):
        sample_fields(network, {"x": masked}, {"x": torch.zeros(2, 4, dtype=torch.long)}, {},
                      Sampler(steps=4, categorical_solver="cached"))
