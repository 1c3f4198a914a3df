"""The NELBO likelihood estimate against the exact NLL, its tightening with training, and a joint continuous +
categorical toy (points with colours) trained and sampled with one network call per step."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.fields import GaussianField
from sciddm.lightning.module import DiffusionModule
from sciddm.likelihood import antithetic_times, nelbo_bits_per_token
from sciddm.nn import SinusoidalTimeEmbedding
from sciddm.paths.categorical import LogLinear
from sciddm.sampling import Sampler
from sciddm.schedules import LinearFlow
from tests.sciddm.categorical_targets import ExactDenoiser, ToySequences

TARGET = ToySequences(num_classes=3, length=3, concentration=0.5, seed=0)


def test_antithetic_times_are_stratified():
    times = antithetic_times(4, 8, 0.1, torch.Generator().manual_seed(0))
    scaled = (times - 0.1) / 0.9 * 8
    assert ((times >= 0.1) & (times < 1.0)).all()
    assert torch.equal(scaled.floor().sort(-1).values, torch.arange(8.0, dtype=torch.float64).expand(4, -1))


@pytest.mark.parametrize("prior", ["mask", "uniform"])
def test_likelihood_of_the_exact_denoiser_is_the_exact_nll(prior):
    """The bound is tight for the exact denoiser, so the Monte Carlo estimate must match -log2 p(x) / L."""
    field = CategoricalField(3, prior)
    module = DiffusionModule(ExactDenoiser(TARGET, field.path), {"x": field}, ema_decay=None)
    repeats = 64
    batch = {"x": TARGET.states.repeat(repeats, 1)}
    bits = nelbo_bits_per_token(module, batch, num_times=32, generator=torch.Generator().manual_seed(0))
    per_state = bits.view(repeats, -1)
    exact = -TARGET.probs.log2() / TARGET.length
    error = (per_state.mean(0) - exact).abs()
    standard_error = per_state.std(0) / math.sqrt(repeats)
    assert (error < 4 * standard_error + 0.01).all()


class TokenMLP(nn.Module):
    """A small MLP over the flattened one-hot sequence: enough to fit the toy distribution."""

    def __init__(self, length: int = 3, states: int = 4, classes: int = 4, hidden: int = 128):
        super().__init__()
        self.shape = (length, classes)
        self.time = SinusoidalTimeEmbedding(32)
        self.mlp = nn.Sequential(nn.Linear(length * states + 32, hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                                 nn.SiLU(), nn.Linear(hidden, length * classes))

    def forward(self, x_t, t, context):
        x = x_t["x"].flatten(1)
        return {"x": self.mlp(torch.cat([x, self.time(t)], -1)).view(-1, *self.shape)}


def fit(module: DiffusionModule, batches, steps: int, lr: float = 3e-3) -> None:
    optimizer = torch.optim.Adam(module.network.parameters(), lr=lr)
    for step in range(steps):
        loss, _ = module.diffusion_loss(module.network, batches(step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_nelbo_tightens_with_training_towards_the_entropy():
    torch.manual_seed(0)
    field = CategoricalField(3, "mask")
    module = DiffusionModule(TokenMLP(), {"x": field}, ema_decay=None, time_sampling="antithetic")
    generator = torch.Generator().manual_seed(1)
    held_out = {"x": TARGET.sample(3000, generator)}
    entropy_bits = TARGET.entropy / math.log(2) / TARGET.length

    def nelbo() -> float:
        return float(nelbo_bits_per_token(module, held_out, 4, torch.Generator().manual_seed(2)).mean())

    before = nelbo()
    fit(module, lambda step: {"x": TARGET.sample(256, generator)}, 600)
    after = nelbo()
    assert before > entropy_bits + 0.3
    assert entropy_bits - 0.02 < after < entropy_bits + 0.08 < before


def test_likelihood_needs_categorical_fields():
    module = DiffusionModule(nn.Identity(), {"x": GaussianField(LinearFlow())}, ema_decay=None)
    with pytest.raises(ConfigError, match="all categorical"):
        nelbo_bits_per_token(module, {"x": torch.zeros(2, 2)})


# ------------------------------------------------------------------------------------------- joint toy
CENTRES = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
COLOUR_PROBS = torch.tensor([0.5, 0.3, 0.2])


def coloured_points(n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    colour = torch.multinomial(COLOUR_PROBS, n, replacement=True, generator=generator)
    pos = CENTRES[colour] + 0.15 * torch.randn(n, 2, generator=generator)
    return {"pos": pos, "colour": colour[:, None]}


class JointMLP(nn.Module):
    """One network for both fields: ``(pos [B,2], colour one-hot [B,1,4], t) -> (velocity [B,2], logits [B,1,4])``."""

    def __init__(self, hidden: int = 128):
        super().__init__()
        self.time = SinusoidalTimeEmbedding(32)
        self.mlp = nn.Sequential(nn.Linear(2 + 4 + 32, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, 2 + 4))
        self.calls = 0

    def forward(self, x_t, t, context):
        self.calls += 1
        out = self.mlp(torch.cat([x_t["pos"], x_t["colour"].flatten(1), self.time(t)], -1))
        return {"pos": out[:, :2], "colour": out[:, None, 2:]}


def test_points_with_colours_train_and_sample_with_one_call_per_step():
    torch.manual_seed(0)
    fields = {"pos": GaussianField(LinearFlow(), prediction="velocity"),
              "colour": CategoricalField(3, "mask", LogLinear())}
    network = JointMLP()
    module = DiffusionModule(network, fields, ema_decay=None)
    generator = torch.Generator().manual_seed(0)
    fit(module, lambda step: coloured_points(256, generator), 800)

    network.calls = 0
    template = {"pos": torch.zeros(2000, 2), "colour": torch.zeros(2000, 1, dtype=torch.long)}
    samples, nfe = module.sample(template, {}, Sampler(solver="dpmpp_2m", steps=20, grid="uniform"),
                                 torch.Generator().manual_seed(1))
    assert nfe == 20 == network.calls
    colour = samples["colour"][:, 0]
    assert ((colour >= 0) & (colour < 3)).all()
    frequencies = torch.bincount(colour, minlength=3).float() / len(colour)
    assert (frequencies - COLOUR_PROBS).abs().max() < 0.05
    near_own_centre = (samples["pos"] - CENTRES[colour]).norm(dim=-1) < 0.6
    assert near_own_centre.float().mean() > 0.9
