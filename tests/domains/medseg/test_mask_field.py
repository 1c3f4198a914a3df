"""The logit-headed mask field: clean estimate, loss by hand, equality with the baseline's loss, its minimiser,
the Wiener input scaling."""

import math

import pytest
import torch

from domains.medseg.baseline import SupervisedSegmentationModule
from domains.medseg.denoisers import ConditionalSegmentationUNet
from domains.medseg.mask_field import LogitMaskField
from domains.medseg.transforms import encode_mask
from sciddm import DiffusionModule
from sciddm.sampling import Sampler
from sciddm.schedules import LinearFlow


def test_clean_estimate_is_twice_the_probability_minus_one():
    field = LogitMaskField(LinearFlow())
    logits = torch.tensor([[[[0.0, math.log(3.0), -math.log(3.0)]]]])  # p = 1/2, 3/4, 1/4
    assert torch.allclose(field.denoised(logits, torch.zeros_like(logits), 0.5),
                          torch.tensor([[[[0.0, 0.5, -0.5]]]]), atol=1e-6)
    three = torch.log(torch.tensor([1.0, 1.0, 2.0])).reshape(1, 3, 1, 1)  # softmax (1/4, 1/4, 1/2)
    assert torch.allclose(field.denoised(three, torch.zeros_like(three), 0.5).flatten(),
                          torch.tensor([-0.5, -0.5, 0.0]), atol=1e-6)


def test_loss_by_hand_cross_entropy_dice_and_x0_terms():
    labels = torch.tensor([[[0, 1], [1, 1]]])
    x0 = encode_mask(labels, 2, "continuous")
    zeros = torch.zeros(1, 1, 2, 2)  # p = 1/2 everywhere: CE = log 2; soft Dice 2 * 1.5 / (2 + 3) = 0.6;
    t = torch.tensor([0.3])          # x0-hat = 0, so the squared error is 1 per voxel
    field = LogitMaskField(LinearFlow(), dice_weight=0.5, x0_weight=2.0)
    loss = field.loss(zeros, x0, x0, x0, t, {})
    assert loss.shape == (1,) and loss.item() == pytest.approx(math.log(2.0) + 0.5 * 0.4 + 2.0 * 1.0)


class Constant(torch.nn.Module):
    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, image):
        return self.logits


def test_batch_mean_equals_the_baseline_loss():
    generator = torch.Generator().manual_seed(0)
    labels = (torch.rand(3, 5, 4, generator=generator) > 0.6).long()
    logits = torch.randn(3, 1, 5, 4, generator=generator)
    x0 = encode_mask(labels, 2, "continuous")
    diffusion = LogitMaskField(LinearFlow()).loss(logits, x0, x0, x0, torch.full((3,), 0.7), {}).mean()
    # two-class softmax of (0, l) is (1 - sigmoid(l), sigmoid(l)): the baseline with those logits
    baseline = SupervisedSegmentationModule(Constant(torch.cat([torch.zeros_like(logits), logits], 1)),
                                            ema_decay=None)
    batch = {"mask": x0, "context": {"image": torch.zeros(3, 1, 5, 4)}}
    assert diffusion.item() == pytest.approx(baseline.loss(baseline.network, batch).item(), rel=1e-6)


def test_cross_entropy_minimiser_gives_the_posterior_mean():
    # one voxel, label 1 in 3 of 4 samples: the CE-optimal logit is logit(3/4), so x0-hat = 2 * 3/4 - 1 = 1/2
    x0 = encode_mask(torch.tensor([1, 1, 1, 0]).reshape(4, 1, 1), 2, "continuous")
    field = LogitMaskField(LinearFlow(), dice_weight=0.0)
    logit = torch.tensor(math.log(3.0), requires_grad=True)  # one logit shared by the 4 samples
    field.loss(logit.expand(4, 1, 1, 1), x0, x0, x0, torch.ones(4), {}).mean().backward()
    assert abs(logit.grad.item()) < 1e-7
    assert field.denoised(logit.detach().reshape(1, 1, 1, 1), x0, 1.0).item() == pytest.approx(0.5)


def test_multiclass_cross_entropy():
    labels = torch.tensor([[[0, 2]]])  # [B=1, 1, 2]
    x0 = encode_mask(labels, 3, "continuous")
    logits = torch.log(torch.tensor([[0.5, 0.25], [0.25, 0.25], [0.25, 0.5]])).reshape(1, 3, 1, 2)
    field = LogitMaskField(LinearFlow(), dice_weight=0.0)
    assert field.loss(logits, x0, x0, x0, torch.ones(1), {}).item() == pytest.approx(-math.log(0.5))


def test_wiener_input_scaling_by_hand():
    field = LogitMaskField(LinearFlow(), input_scaling="wiener")
    x_t = torch.tensor([2.0, -1.0]).reshape(2, 1, 1, 1)
    # alpha = 1 - t, sigma = t: t = 0.25 -> 0.75 / (0.5625 + 0.0625) = 1.2; t = 1 -> 0 (pure noise is dropped)
    assert torch.allclose(field.network_input(x_t, torch.tensor([0.25, 1.0])).flatten(), torch.tensor([2.4, 0.0]))
    assert torch.equal(field.network_input(x_t, torch.zeros(2)), x_t)
    assert torch.equal(LogitMaskField(LinearFlow()).network_input(x_t, torch.ones(2)), x_t)


@pytest.mark.parametrize("scaling", ["wiener", "none"])
def test_one_step_draws_ignore_the_initial_noise_only_with_wiener_scaling(scaling):
    torch.manual_seed(0)
    network = ConditionalSegmentationUNet(base_channels=8, channel_mults=(1, 2), condition_channels=8)
    module = DiffusionModule(network, {"mask": LogitMaskField(LinearFlow(), input_scaling=scaling)}, ema_decay=None)
    sampler = Sampler(solver="ddim", steps=1, grid="uniform")
    image = torch.randn(1, 1, 8, 8)
    draws = [module.sample({"mask": torch.zeros(1, 1, 8, 8)}, {"image": image}, sampler,
                           torch.Generator().manual_seed(seed))[0]["mask"] for seed in (1, 2)]
    assert torch.equal(draws[0], draws[1]) == (scaling == "wiener")
