"""Lightning integration: the generic diffusion module, the datamodule base class and the CLI glue."""

from sciddm.lightning.budget import CPUTimeBudget
from sciddm.lightning.data import DiffusionDataModule
from sciddm.lightning.module import DiffusionModule

__all__ = ["CPUTimeBudget", "DiffusionDataModule", "DiffusionModule"]
