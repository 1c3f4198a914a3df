"""Reward fine-tuning as Lightning modules: DRaFT-K (continuous fields) and DRAKES (categorical fields)."""

from sciddm.finetune.base import RewardFinetuning, load_pretrained_network
from sciddm.finetune.draft import DRaFT
from sciddm.finetune.drakes import DRAKES

__all__ = ["DRAKES", "DRaFT", "RewardFinetuning", "load_pretrained_network"]
