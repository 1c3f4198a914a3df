"""Learning-rate warm-up and cosine decay: the factor in closed form and as the optimiser sees it; per-parameter-group
learning rates (``lr_multipliers``) checked on AdamW's first step, whose size is exactly the learning rate."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch

from sciddm import GaussianField
from sciddm.errors import ConfigError
from sciddm.lightning import DiffusionModule
from sciddm.lightning.optimization import learning_rate_factor
from sciddm.schedules import LinearFlow
from sciddm.toy import MLPDenoiser, ToyDataModule


def test_factor_closed_form():
    assert [learning_rate_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert learning_rate_factor(0, 0, 10) == 1.0
    assert learning_rate_factor(5, 0, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert learning_rate_factor(10, 0, 10) == pytest.approx(0.0)
    assert learning_rate_factor(2, 4, 12) == pytest.approx(0.75)  # still warming up, decay not started
    assert learning_rate_factor(8, 4, 12) == pytest.approx(0.5)  # half-way through the decay


class RecordLearningRate(pl.Callback):
    def __init__(self):
        self.group_rates: list[list[float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.group_rates.append([group["lr"] for group in trainer.optimizers[0].param_groups])


def toy_module(**options) -> DiffusionModule:
    return DiffusionModule(MLPDenoiser(dim=2, hidden=8, depth=2), {"x": GaussianField(LinearFlow())},
                           ema_decay=None, **options)


def fit_toy(module: DiffusionModule, steps: int, *callbacks: pl.Callback) -> None:
    trainer = pl.Trainer(max_steps=steps, callbacks=list(callbacks), accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0)
    trainer.fit(module, ToyDataModule(train_size=512, val_size=8, batch_size=8))


def test_cosine_decay_reaches_the_optimiser():
    record = RecordLearningRate()
    fit_toy(toy_module(lr=0.01, warmup_steps=2, lr_decay="cosine"), 10, record)
    assert [rates[0] for rates in record.group_rates] == pytest.approx(
        [0.01 * learning_rate_factor(s, 2, 10) for s in range(10)])


def test_each_parameter_takes_one_adamw_step_of_its_group_rate():
    """AdamW's first update of a weight with |gradient| >> eps is ``-lr * sign(gradient)`` (no weight decay): so
    every weight must move by exactly its group's rate. First match wins: ``mlp.4.bias`` is frozen (factor 0) although
    ``mlp\\.4`` would give it 10; the time embedding matches nothing and keeps factor 1."""
    torch.manual_seed(0)
    module = toy_module(lr=1e-3, lr_multipliers={r"mlp\.4\.bias": 0.0, r"mlp\.4": 10.0, r"mlp\.0": 3.0})
    optimiser = module.configure_optimizers()
    before = {name: p.detach().clone() for name, p in module.network.named_parameters()}
    batch = next(iter(ToyDataModule(train_size=64, val_size=8, batch_size=64).train_dataloader()))
    module.diffusion_loss(module.network, batch)[0].backward()
    gradients = {name: p.grad.clone() for name, p in module.network.named_parameters()}
    optimiser.step()
    expected = {"mlp.4.bias": 0.0, "mlp.4.weight": 1e-2, "mlp.0.weight": 3e-3, "mlp.0.bias": 3e-3}
    for name, p in module.network.named_parameters():
        rate = expected.get(name, 1e-3)
        large = gradients[name].abs() > 1e-5  # eps = 1e-8 changes the step by < 0.1%
        assert large.any(), name
        step = (p.detach() - before[name])[large]
        assert torch.allclose(step, -rate * gradients[name][large].sign(), rtol=1e-3, atol=1e-9), name


def test_group_rates_follow_the_schedule_in_proportion():
    record = RecordLearningRate()
    fit_toy(toy_module(lr=0.01, warmup_steps=2, lr_decay="cosine", lr_multipliers={r"time\.": 4.0}), 6, record)
    factors = [learning_rate_factor(s, 2, 6) for s in range(6)]
    assert [rates[0] for rates in record.group_rates] == pytest.approx([0.04 * f for f in factors])
    assert [rates[1] for rates in record.group_rates] == pytest.approx([0.01 * f for f in factors])


@pytest.mark.parametrize(("multipliers", "message"), [
    ({r"blocks\.": 2.0}, r"\['blocks\\\\.'\] match no parameter of MLPDenoiser"),
    ({"mlp(": 2.0}, r"'mlp\(' is not a regular expression"),
    ({"mlp": -1.0}, "must be finite and >= 0"),
    ({"mlp": "x"}, "the factor of 'mlp' must be a number, got 'x'"),
    ({7: 2.0}, "7 is not a regular expression"),
])
def test_bad_multipliers_are_config_errors(multipliers, message):
    with pytest.raises(ConfigError, match=message):
        toy_module(lr_multipliers=multipliers)


def test_unknown_decay_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown lr_decay 'linear'"):
        DiffusionModule(MLPDenoiser(dim=2), {"x": GaussianField(LinearFlow())}, lr_decay="linear")
