"""``DiffusionDataModule``: what a domain's LightningDataModule adds for sampling, scoring and writing.

Batches are ``dict[str, Tensor]`` holding the generated fields and the context (masks, conditions). Beyond the
usual dataloaders a domain says how to lay out a fresh sample (:meth:`sample_template`: shapes and context,
e.g. atom counts drawn from the training histogram), how to score samples (:meth:`evaluate_samples`), and how
to write them in the field's standard format (:meth:`write_samples`, plus an optional picture).
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader

Context = dict[str, Tensor]


class DiffusionDataModule(pl.LightningDataModule):
    """Base class for domain datamodules. ``predict`` yields sample-request indices ``0..n-1``."""

    sample_suffix: str = ".pt"

    def __init__(self, batch_size: int = 64, num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.predict_num_samples = 0
        self.predict_batch_size = batch_size

    def _loader(self, dataset, shuffle: bool, collate_fn=None) -> DataLoader:
        """A DataLoader with this module's batch size and workers; shuffling is seeded by ``seed``."""
        generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(dataset, batch_size=self.batch_size, shuffle=shuffle, num_workers=self.num_workers,
                          generator=generator if shuffle else None, persistent_workers=self.num_workers > 0,
                          collate_fn=collate_fn)

    def split_loader(self, split: str, shuffle: bool) -> DataLoader:
        """The loader of ``split`` (``train``, ``val`` or ``test``); domains override this one method."""
        raise NotImplementedError(f"{type(self).__name__} has no '{split}' split")

    def train_dataloader(self) -> DataLoader:
        return self.split_loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.split_loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self.split_loader("test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(torch.arange(self.predict_num_samples), batch_size=self.predict_batch_size)

    @abstractmethod
    def sample_template(self, num_samples: int, generator: torch.Generator | None = None
                        ) -> tuple[dict[str, Tensor], Context]:
        """Tensors shaped like ``num_samples`` draws of each field, and their context, on the CPU.

        ``generator`` is a CPU generator (``DiffusionModule.sample_from`` passes one even when it samples on a
        GPU); layouts drawn from it (atom counts, conditions...) must not depend on the sampling device.
        Domains whose samples belong to given inputs (an image to segment, a survey to reconstruct) may accept
        a keyword ``indices`` (a LongTensor of request indices, one per row, as sharded by ``predict``) and
        return the rows for those requests.
        """

    def evaluate_samples(self, samples: dict[str, Tensor], context: Context) -> dict[str, float]:
        """Domain metrics of a batch of samples (empty by default)."""
        return {}

    @abstractmethod
    def write_samples(self, samples: dict[str, Tensor], context: Context, path: Path) -> Path:
        """Write samples in the domain's standard format (atomically); return the written path."""

    def sampling_steering(self, fields: dict) -> dict[str, list]:
        """Guidance the data itself calls for whenever this module's samples are drawn (``predict``,
        ``sciddm sample``, validation): ``{"guidance": [estimator wrappers], "hooks": [step hooks],
        "network_wrapper": callable or None}``, e.g. :class:`sciddm.guidance.Inpainting` when the context carries
        observed values, or classifier-free guidance when it carries a condition. None by default."""
        return {"guidance": [], "hooks": [], "network_wrapper": None}

    def render_samples(self, samples: dict[str, Tensor], context: Context, path: Path) -> Path | None:
        """Write a picture of the samples as PNG; return its path (None if the domain has no picture)."""
        return None
