"""Steering a sampler without forking it: network wrappers, estimator wrappers and step hooks."""

from sciddm.guidance.categorical_gradient import CategoricalGradientGuidance
from sciddm.guidance.cfg import ClassifierFreeGuidance
from sciddm.guidance.gradient import GradientGuidance, masked_misfit
from sciddm.guidance.inpainting import Inpainting
from sciddm.guidance.particles import GuidedSamples, best_of_n, smc, svdd
from sciddm.guidance.tds import tds

__all__ = ["CategoricalGradientGuidance", "ClassifierFreeGuidance", "GradientGuidance", "GuidedSamples", "Inpainting",
           "best_of_n", "masked_misfit", "smc", "svdd", "tds"]
