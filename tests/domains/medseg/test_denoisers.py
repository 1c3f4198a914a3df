"""The conditional UNets follow the denoiser contract and learn; the baseline shares the backbone."""

import pytest
import torch
from torch.nn import functional as F

from domains.medseg.blocks import UNetBackbone
from domains.medseg.denoisers import ConditionalSegmentationUNet, SegmentationUNet
from domains.medseg.metrics import dice
from domains.medseg.synthetic import SyntheticConfig, synthetic_dataset
from sciddm.errors import ConfigError
from sciddm.self_conditioning import SELF_CONDITION

SMALL = dict(base_channels=8, channel_mults=(1, 2), time_dim=16, condition_channels=4, groups=4)


@pytest.mark.parametrize("spatial, size", [(2, (13, 10)), (3, (7, 9, 6))])
def test_continuous_output_is_shaped_like_the_mask_for_odd_sizes(spatial, size):
    torch.manual_seed(0)
    net = ConditionalSegmentationUNet(spatial_dims=spatial, image_channels=2, **SMALL)
    out = net({"mask": torch.randn(2, 1, *size)}, torch.rand(2), {"image": torch.randn(2, 2, *size)})
    assert set(out) == {"mask"} and out["mask"].shape == (2, 1, *size)


def test_categorical_variant_returns_class_logits_on_the_last_axis():
    torch.manual_seed(0)
    net = ConditionalSegmentationUNet(spatial_dims=3, mask_channels=3, categorical=True, **SMALL)
    noisy = torch.softmax(torch.randn(2, 1, 6, 5, 4, 3), dim=-1)
    out = net({"mask": noisy}, torch.rand(2), {"image": torch.randn(2, 1, 6, 5, 4)})["mask"]
    assert out.shape == (2, 1, 6, 5, 4, 3)


def test_output_depends_on_time_and_image_and_not_on_other_batch_members():
    torch.manual_seed(0)
    net = ConditionalSegmentationUNet(**SMALL).eval()
    x, image, t = {"mask": torch.randn(2, 1, 12, 12)}, torch.randn(2, 1, 12, 12), torch.tensor([0.2, 0.7])
    base = net(x, t, {"image": image})["mask"]
    assert not torch.allclose(base, net(x, t.flip(0), {"image": image})["mask"])
    assert not torch.allclose(base, net(x, t, {"image": image + 1})["mask"])
    changed = image.clone()
    changed[1] = 5.0  # GroupNorm normalises per sample, so sample 0 is unaffected
    assert torch.allclose(base[0], net(x, t, {"image": changed})["mask"][0], atol=1e-6)


@pytest.mark.parametrize("raw_image", [True, False])
def test_raw_image_reaches_the_backbone_past_the_condition_encoder(raw_image):
    torch.manual_seed(0)
    net = ConditionalSegmentationUNet(raw_image=raw_image, **SMALL).eval()
    last = net.encoder.layers[-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)  # the encoder now outputs 0 for every image
    x, t = {"mask": torch.randn(1, 1, 8, 8)}, torch.tensor([0.5])
    first, second = (net(x, t, {"image": torch.randn(1, 1, 8, 8)})["mask"] for _ in range(2))
    assert torch.equal(first, second) != raw_image


def test_internal_padding_equals_explicit_zero_padding():
    torch.manual_seed(0)
    backbone = UNetBackbone(2, 1, 1, base_channels=8, channel_mults=(1, 2, 2), groups=4).eval()
    x = torch.randn(1, 1, 9, 11)
    padded = F.pad(x, (0, 1, 0, 3))  # to the next multiple of 4
    assert torch.allclose(backbone(x), backbone(padded)[..., :9, :11], atol=1e-6)


def test_baseline_and_denoiser_share_the_backbone_class():
    assert isinstance(SegmentationUNet().unet, UNetBackbone)
    assert isinstance(ConditionalSegmentationUNet().unet, UNetBackbone)
    assert all(block.film is None for block in SegmentationUNet().unet.up_blocks)


def fit(model_step, steps=60):
    torch.manual_seed(0)
    images, labels = synthetic_dataset(8, SyntheticConfig(shape=(24, 24)), seed=0)
    images, labels = torch.from_numpy(images), torch.from_numpy(labels)
    images = (images - images.mean()) / images.std()
    return model_step(images, labels, steps)


def test_plain_unet_learns_synthetic_masks():
    torch.set_num_threads(1)

    def train(images, labels, steps):
        net = SegmentationUNet(base_channels=8, channel_mults=(1, 2), groups=4)
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(steps):
            optimiser.zero_grad()
            F.cross_entropy(net(images), labels).backward()
            optimiser.step()
        return dice(net(images).argmax(1).numpy() == 1, labels.numpy() == 1)

    assert fit(train) > 0.9


def test_conditional_denoiser_uses_the_image_to_predict_the_mask():
    """From pure noise (t = 1) the clean mask is only predictable through the image condition."""
    torch.set_num_threads(1)

    def train(images, labels, steps):
        net = ConditionalSegmentationUNet(**SMALL)
        optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
        target = 2.0 * labels[:, None].float() - 1.0
        ones = torch.ones(len(images))
        for _ in range(steps):
            optimiser.zero_grad()
            noise = {"mask": torch.randn_like(target)}
            F.mse_loss(net(noise, ones, {"image": images})["mask"], target).backward()
            optimiser.step()
        prediction = net({"mask": torch.randn_like(target)}, ones, {"image": images})["mask"][:, 0] > 0
        return dice(prediction.numpy(), labels.numpy() == 1)

    assert fit(train) > 0.8


@pytest.mark.parametrize("categorical", [False, True])
def test_self_conditioning_reads_the_previous_estimate_and_zeros_without_one(categorical):
    torch.manual_seed(0)
    net = ConditionalSegmentationUNet(self_conditioning=True, categorical=categorical, mask_channels=2, **SMALL)
    net.eval()
    if categorical:  # noisy one-hot state and class-probability estimates, [B, 1, H, W, K]
        noisy = torch.softmax(torch.randn(2, 1, 8, 8, 2), dim=-1)
        estimate = torch.softmax(torch.randn(2, 1, 8, 8, 2), dim=-1)
    else:
        noisy, estimate = torch.randn(2, 2, 8, 8), torch.tanh(torch.randn(2, 2, 8, 8))
    x, t, image = {"mask": noisy}, torch.tensor([0.3, 0.8]), torch.randn(2, 1, 8, 8)
    without = net(x, t, {"image": image})["mask"]
    zeros = net(x, t, {"image": image, SELF_CONDITION: {"mask": torch.zeros_like(estimate)}})["mask"]
    given = net(x, t, {"image": image, SELF_CONDITION: {"mask": estimate}})["mask"]
    assert net.unet.stem.in_channels == 2 + 4 + 1 + 2
    assert torch.equal(without, zeros)
    assert not torch.allclose(without, given)


def test_without_encoder_the_input_is_the_noisy_mask_and_the_raw_image():
    torch.manual_seed(0)
    net = ConditionalSegmentationUNet(**{**SMALL, "condition_channels": 0}).eval()
    assert net.encoder is None and net.unet.stem.in_channels == 2
    x, t, image = {"mask": torch.randn(1, 1, 8, 8)}, torch.tensor([0.5]), torch.randn(1, 1, 8, 8)
    stem = net.unet.stem
    expected = F.conv2d(torch.cat([x["mask"], image], dim=1), stem.weight, stem.bias, padding=1)
    seen = {}
    stem.register_forward_hook(lambda module, inputs, output: seen.setdefault("stem", output))
    net(x, t, {"image": image})
    assert torch.allclose(seen["stem"], expected, atol=1e-6)
    with pytest.raises(ConfigError, match="would not see the image"):
        ConditionalSegmentationUNet(**{**SMALL, "condition_channels": 0}, raw_image=False)
