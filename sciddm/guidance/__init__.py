"""Steering a sampler without forking it: network wrappers, estimator wrappers and step hooks."""

from sciddm.guidance.cfg import ClassifierFreeGuidance
from sciddm.guidance.gradient import GradientGuidance, masked_misfit
from sciddm.guidance.inpainting import Inpainting

__all__ = ["ClassifierFreeGuidance", "GradientGuidance", "Inpainting", "masked_misfit"]
