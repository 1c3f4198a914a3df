"""Stop training after a budget of *CPU* seconds, so a benchmark's budget does not depend on the machine's load.

Lightning's ``max_time`` counts wall-clock time: on a shared machine the same budget buys fewer optimiser steps
when other jobs run. :class:`CPUTimeBudget` counts the process's CPU time (all threads, user + system,
:func:`time.process_time`) spent since training started, and stops after the optimiser step that exhausts it.
Use it from a config:

.. code-block:: yaml

    trainer:
      callbacks:
        - class_path: sciddm.lightning.CPUTimeBudget
          init_args: {seconds: 300}
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl

from sciddm.errors import ConfigError


class CPUTimeBudget(pl.Callback):
    """Request a stop once ``seconds`` of process CPU time have been spent in training (module docstring).

    ``clock`` returns the CPU time in seconds (``time.process_time``; replaceable for tests). ``spent`` is the
    CPU time used so far, logged as ``train/cpu_seconds``.
    """

    def __init__(self, seconds: float, clock: Callable[[], float] = time.process_time):
        if seconds <= 0:
            raise ConfigError(f"CPUTimeBudget seconds must be > 0, got {seconds}")
        self.seconds = seconds
        self.clock = clock
        self._start: float | None = None
        self.spent = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = self.clock() - self.spent  # a resumed run keeps what it had spent

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self.spent = self.clock() - self._start
        pl_module.log("train/cpu_seconds", self.spent, batch_size=1)
        if self.spent >= self.seconds:
            trainer.should_stop = True

    def state_dict(self) -> dict[str, float]:
        return {"spent": self.spent}

    def load_state_dict(self, state_dict: dict[str, float]) -> None:
        self.spent = float(state_dict["spent"])
