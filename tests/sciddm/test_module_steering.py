"""A datamodule's steering (here: inpainting of observed coordinates) applies to every module sampling path."""

from __future__ import annotations

import torch

from sciddm import DiffusionModule, GaussianField, LinearFlow
from sciddm.guidance import Inpainting
from sciddm.toy import MLPDenoiser, ToyDataModule


class ObservedFirstCoordinate(ToyDataModule):
    def sample_template(self, num_samples, generator=None):
        template, _ = super().sample_template(num_samples, generator)
        observed = torch.zeros(num_samples, 2)
        observed[:, 0] = torch.linspace(-1, 1, num_samples)
        return template, {"observed": observed, "mask": torch.tensor([1.0, 0.0]).expand(num_samples, 2)}

    def sampling_steering(self, fields):
        return {"guidance": [], "hooks": [Inpainting(fields, "x")]}


def test_sample_from_applies_the_datamodule_hooks():
    data = ObservedFirstCoordinate(train_size=16, val_size=16)
    module = DiffusionModule(MLPDenoiser(hidden=16, depth=1), {"x": GaussianField(LinearFlow(), "velocity")})
    samples, context, nfe = module.sample_from(data, 8, seed=0)
    assert torch.equal(samples["x"][:, 0], context["observed"][:, 0])
    assert nfe == module.sampler.steps
    plain, _, _ = module.sample_from(ToyDataModule(train_size=16, val_size=16), 8, seed=0)
    assert not torch.equal(plain["x"][:, 0], context["observed"][:, 0])


class GuidedLabels(ToyDataModule):
    def sample_template(self, num_samples, generator=None):
        template, _ = super().sample_template(num_samples, generator)
        return template, {"label": torch.zeros(num_samples, dtype=torch.long)}

    def sampling_steering(self, fields):
        from sciddm.guidance import ClassifierFreeGuidance

        return {"network_wrapper": lambda network: ClassifierFreeGuidance(network, 3.0)}


def test_sample_from_applies_the_datamodule_network_wrapper():
    module = DiffusionModule(MLPDenoiser(hidden=16, depth=1), {"x": GaussianField(LinearFlow(), "velocity")})
    _, _, nfe = module.sample_from(GuidedLabels(train_size=16, val_size=16), 4, seed=0)
    assert nfe == 2 * module.sampler.steps  # conditional + null-label call per step
