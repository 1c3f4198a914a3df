"""Guidance against exact answers: CFG end points, replacement inpainting, reconstruction gradients."""

from __future__ import annotations

import pytest
import torch

from sciddm.fields import GaussianField
from sciddm.guidance import ClassifierFreeGuidance, GradientGuidance, Inpainting, masked_misfit
from sciddm.sampling import Sampler, make_estimator, sample_fields
from sciddm.schedules import VPCosine


class GaussianPosteriorNet(torch.nn.Module):
    """Exact x0-predictor for x0 ~ N(mu_label, s^2 I): a label-conditional closed-form 'network'."""

    def __init__(self, field: GaussianField, means: torch.Tensor, std: float):
        super().__init__()
        self.field, self.means, self.std = field, means, std

    def forward(self, inputs, t, context):
        x = inputs["x"]
        label = context["label"]
        mean = torch.where((label >= 0)[:, None], self.means[label.clamp_min(0)], torch.zeros_like(x))
        alpha, sigma = self.field.path.coefficients(t, x)
        return {"x": mean + alpha * self.std**2 / (alpha**2 * self.std**2 + sigma**2) * (x - alpha * mean)}


def setup(batch=512):
    field = GaussianField(VPCosine(), prediction="x0")
    net = GaussianPosteriorNet(field, torch.tensor([[2.0, -1.0], [-3.0, 0.5]]), 0.5)
    context = {"label": torch.arange(batch) % 2}
    return field, net, context


def draw(net, field, context, wrapper=None, **kwargs):
    gen = torch.Generator().manual_seed(0)
    return sample_fields(net, {"x": field}, {"x": torch.zeros(len(context["label"]), 2)}, context,
                         Sampler(solver="ddim", steps=10, grid="uniform"), gen, network_wrapper=wrapper,
                         **kwargs)


def test_cfg_scale_one_and_zero_are_the_conditional_and_unconditional_models_exactly():
    field, net, context = setup()
    conditional, nfe_c = draw(net, field, context)
    null = {"label": torch.full_like(context["label"], -1)}
    unconditional, _ = draw(net, field, null)
    guided_1, nfe_1 = draw(net, field, context, lambda n: ClassifierFreeGuidance(n, 1.0))
    guided_0, _ = draw(net, field, context, lambda n: ClassifierFreeGuidance(n, 0.0))
    torch.testing.assert_close(guided_1["x"], conditional["x"], rtol=0, atol=0)
    torch.testing.assert_close(guided_0["x"], unconditional["x"], rtol=0, atol=0)
    assert nfe_1 == nfe_c == 10 + 1  # VP cosine keeps sigma(t_min) > 0: one final denoising call


def test_cfg_scale_two_doubles_the_conditional_shift_and_costs_two_calls():
    field, net, context = setup()
    guided, nfe = draw(net, field, context, lambda n: ClassifierFreeGuidance(n, 2.0))
    assert nfe == 2 * 11
    # Estimates combine linearly: with an exact linear-Gaussian model the mean scales by w for the mean term.
    means = torch.stack([guided["x"][context["label"] == k].mean(0) for k in (0, 1)])
    torch.testing.assert_close(means, 2.0 * net.means, atol=0.12, rtol=0)


def test_inpainting_keeps_known_entries_exactly_and_fills_the_rest():
    field, net, context = setup()
    known = torch.tensor([5.0, 0.0]).expand(512, 2).clone()
    mask = torch.tensor([1.0, 0.0]).expand(512, 2).clone()
    hook = Inpainting({"x": field}, "x")
    samples, _ = draw(net, field, {**context, "observed": known, "mask": mask}, hooks=[hook])
    assert torch.equal(samples["x"][:, 0], known[:, 0])
    # Independent coordinates: the free coordinate keeps its own conditional law N(mu_1, 0.5^2).
    free = samples["x"][context["label"] == 0, 1]
    assert abs(free.mean().item() + 1.0) < 0.1 and abs(free.std().item() - 0.5) < 0.06


def test_gradient_guidance_equals_the_analytic_correction_for_a_linear_estimator():
    field, net, context = setup(batch=4)
    estimate = make_estimator(net, {"x": field}, context)
    observed, mask = torch.ones(4, 2), torch.tensor([[1.0, 0.0]]).expand(4, 2)
    guided = GradientGuidance("x", masked_misfit("x", observed, mask), scale=0.3)(estimate)
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(1))
    t = 0.4
    plain = estimate({"x": x}, t)["x"]
    alpha, sigma = field.path.coefficients(t, x)
    slope = alpha * 0.25 / (alpha**2 * 0.25 + sigma**2)  # d x0_hat / d x_t for this Gaussian
    expected = plain - 0.3 * slope * mask * (plain - observed)
    torch.testing.assert_close(guided({"x": x}, t)["x"], expected)


def test_dps_guidance_misfit_falls_monotonically_with_scale_and_scale_zero_is_plain_sampling():
    field, net, context = setup()
    observed, mask = torch.full((512, 2), 4.0), torch.tensor([[1.0, 0.0]]).expand(512, 2)
    misfits = []
    for scale in (0.0, 0.5, 2.0):
        guidance = [GradientGuidance("x", masked_misfit("x", observed, mask), scale, dps_normalize=True)]
        guided, _ = draw(net, field, context, guidance=guidance)
        misfits.append((guided["x"][:, 0] - 4.0).abs().mean().item())
        if scale == 0.0:
            torch.testing.assert_close(guided["x"], draw(net, field, context)[0]["x"])
    assert misfits[0] > misfits[1] > misfits[2]


def test_cached_sampler_refuses_estimator_guidance():
    from sciddm.categorical_fields import CategoricalField
    from sciddm.errors import ConfigError

    field = CategoricalField(3, prior="mask")
    net = lambda inputs, t, context: {"s": torch.zeros(*inputs["s"].shape[:-1], 3)}  # noqa: E731
    with pytest.raises(ConfigError, match="cached sampler .* cannot be combined with estimator guidance"):
        sample_fields(net, {"s": field}, {"s": torch.zeros(2, 4, dtype=torch.long)}, {},
                      Sampler(steps=4, categorical_solver="cached"), guidance=[lambda estimate: estimate])
