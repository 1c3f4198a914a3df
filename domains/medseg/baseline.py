"""The supervised baseline: a plain UNet trained by cross-entropy + soft Dice on the same batches.

Loss per batch (nnU-Net's default, Isensee et al. 2021): ``CE(logits, y) + dice_weight * (1 - softDice)``, with
``softDice`` the mean over foreground classes ``c`` of ``2 sum(p_c y_c) / (sum p_c + sum y_c)`` pooled over the
batch (``p`` the softmax, ``y`` the one-hot labels; a class absent from both counts 1). Batches are the
:class:`~domains.medseg.data.MedSegDataModule`'s (``mask`` field decoded back to labels), so the baseline sees
exactly the data, batch size and augmentation of the diffusion model; with the same Trainer ``max_steps`` the two
have the same budget of optimiser steps. An EMA of the weights, with the same warm-up of the decay as
:class:`sciddm.DiffusionModule` (:mod:`sciddm.lightning.ema`), is used for validation and prediction.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from domains.medseg.transforms import decode_mask
from sciddm.lightning.ema import exponential_moving_average


def soft_dice(probabilities: Tensor, labels: Tensor) -> Tensor:
    """Mean over foreground classes of the batch-pooled soft Dice (see the module docstring)."""
    one_hot = F.one_hot(labels, probabilities.shape[1]).movedim(-1, 1).to(probabilities.dtype)
    dims = (0, *range(2, probabilities.ndim))
    overlap = (probabilities * one_hot).sum(dims)[1:]
    total = (probabilities.sum(dims) + one_hot.sum(dims))[1:]
    return torch.where(total > 0, 2 * overlap / total.clamp_min(1e-12), torch.ones_like(total)).mean()


class SupervisedSegmentationModule(pl.LightningModule):
    """Trains ``network`` (image -> logits [B, K, *spatial]) on MedSegDataModule batches; see the module docstring."""

    def __init__(self, network: nn.Module, mask_variant: str = "continuous", lr: float = 1e-3,
                 weight_decay: float = 0.0, dice_weight: float = 1.0, ema_decay: float | None = 0.99,
                 ema_warmup: bool = True):
        super().__init__()
        self.network, self.mask_variant = network, mask_variant
        self.lr, self.weight_decay, self.dice_weight = lr, weight_decay, dice_weight
        self.ema = exponential_moving_average(network, ema_decay, ema_warmup) if ema_decay else None

    @property
    def prediction_network(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.network

    def loss(self, network: nn.Module, batch: dict) -> Tensor:
        labels = decode_mask(batch["mask"], self.mask_variant)
        logits = network(batch["context"]["image"])
        return F.cross_entropy(logits, labels) + self.dice_weight * (1 - soft_dice(logits.softmax(1), labels))

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        loss = self.loss(self.network, batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["mask"]))
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.ema is not None:
            self.ema.update_parameters(self.network)

    def validation_step(self, batch: dict, batch_idx: int) -> Tensor:
        loss = self.loss(self.prediction_network, batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=len(batch["mask"]))
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.network.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    @torch.no_grad()
    def probabilities(self, images: Tensor) -> Tensor:
        """Softmax class probabilities [B, K, *spatial] of the (EMA) network in eval mode."""
        network = self.prediction_network
        was_training = network.training
        network.eval()
        try:
            return network(images.to(self.device)).softmax(dim=1).cpu()
        finally:
            network.train(was_training)
