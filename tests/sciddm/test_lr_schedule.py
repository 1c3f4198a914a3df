"""Learning-rate warm-up and cosine decay: the factor in closed form and as the optimiser sees it."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl

from sciddm import GaussianField
from sciddm.errors import ConfigError
from sciddm.lightning import DiffusionModule
from sciddm.lightning.module import learning_rate_factor
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
        self.rates: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.rates.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_cosine_decay_reaches_the_optimiser():
    record = RecordLearningRate()
    module = DiffusionModule(MLPDenoiser(dim=2, hidden=8, depth=1), {"x": GaussianField(LinearFlow())},
                             ema_decay=None, lr=0.01, warmup_steps=2, lr_decay="cosine")
    trainer = pl.Trainer(max_steps=10, callbacks=[record], accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0)
    trainer.fit(module, ToyDataModule(train_size=512, val_size=8, batch_size=8))
    assert record.rates == pytest.approx([0.01 * learning_rate_factor(s, 2, 10) for s in range(10)])


def test_unknown_decay_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown lr_decay 'linear'"):
        DiffusionModule(MLPDenoiser(dim=2), {"x": GaussianField(LinearFlow())}, lr_decay="linear")
