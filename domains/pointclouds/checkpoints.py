"""Checkpoints at fixed optimiser-step budgets, each with the CPU time spent to reach it.

:class:`StepCheckpoints` is a Lightning callback (``trainer.callbacks`` in a config) that writes
``LOG_DIR/checkpoints/step=K.ckpt`` every ``every_n_steps`` optimiser steps and records ``{"K": cpu_seconds}`` in
``LOG_DIR/checkpoints/cpu_seconds.json``, where ``cpu_seconds`` is :func:`time.process_time` of the training
process (all its threads, start-up included). One training run then yields a model at every budget, and the
benchmark compares models at equal measured CPU time (a ``ModelCheckpoint`` saves the models but not the CPU
time spent to reach each one).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytorch_lightning as pl

from sciddm.errors import ConfigError
from sciddm.io import atomic_write


class StepCheckpoints(pl.Callback):
    """Save a checkpoint every ``every_n_steps`` optimiser steps and the process CPU seconds at that step."""

    def __init__(self, every_n_steps: int):
        if every_n_steps < 1:
            raise ConfigError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps
        self.cpu_seconds: dict[str, float] = {}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:  # fmt: skip
        step = trainer.global_step
        if step % self.every_n_steps or str(step) in self.cpu_seconds:
            return
        directory = Path(trainer.log_dir or trainer.default_root_dir) / "checkpoints"
        self.cpu_seconds[str(step)] = time.process_time()
        trainer.save_checkpoint(directory / f"step={step}.ckpt")
        with atomic_write(directory / "cpu_seconds.json", "w") as handle:
            json.dump(self.cpu_seconds, handle, indent=1)
