"""The CPU-time budget stops training after the step that exhausts it, counted on an injected clock."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl

from sciddm import GaussianField
from sciddm.errors import ConfigError
from sciddm.lightning import CPUTimeBudget, DiffusionModule
from sciddm.schedules import LinearFlow
from sciddm.toy import MLPDenoiser, ToyDataModule


def train_with_budget(seconds: float, clock) -> tuple[pl.Trainer, CPUTimeBudget]:
    budget = CPUTimeBudget(seconds, clock=clock)
    module = DiffusionModule(MLPDenoiser(dim=2, hidden=16, depth=1), {"x": GaussianField(LinearFlow())},
                             ema_decay=None)
    trainer = pl.Trainer(max_steps=100, callbacks=[budget], accelerator="cpu", logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0)
    trainer.fit(module, ToyDataModule(train_size=512, val_size=8, batch_size=8))
    return trainer, budget


def test_stops_after_the_step_that_exhausts_the_budget():
    ticks = itertools.count(start=100.0, step=2.5)  # each clock read: 2.5 CPU seconds later
    trainer, budget = train_with_budget(10.0, lambda: next(ticks))
    assert trainer.global_step == 4  # spent 2.5, 5, 7.5, 10 -> stop after the 4th step
    assert budget.spent == 10.0


def test_a_budget_never_reached_leaves_max_steps_in_charge():
    ticks = itertools.count(start=0.0, step=0.001)
    trainer, budget = train_with_budget(10.0, lambda: next(ticks))
    assert trainer.global_step == 100 and budget.spent == pytest.approx(0.1)


def test_resumed_budget_counts_what_was_spent():
    """Restored with 7 s spent: 3 more CPU seconds exhaust a 10 s budget."""
    readings = iter([50.0, 52.0, 53.0])
    budget = CPUTimeBudget(10.0, clock=lambda: next(readings))
    budget.load_state_dict({"spent": 7.0})
    trainer, module = SimpleNamespace(should_stop=False), SimpleNamespace(log=lambda *args, **kwargs: None)
    budget.on_train_start(trainer, module)
    budget.on_train_batch_end(trainer, module, None, None, 0)
    assert budget.spent == 9.0 and not trainer.should_stop
    budget.on_train_batch_end(trainer, module, None, None, 1)
    assert budget.spent == 10.0 and trainer.should_stop


def test_non_positive_budget_is_a_config_error():
    with pytest.raises(ConfigError, match="seconds must be > 0"):
        CPUTimeBudget(0)
