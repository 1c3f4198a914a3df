"""Denoisers for the ``mask`` field conditioned on the ``image``, and the plain UNet baseline.

:class:`ConditionalSegmentationUNet` follows the core's denoiser contract
``forward(x_t, t, context) -> {field: raw prediction}``: the noisy mask and an encoding of the image are
concatenated along channels (the conditioning of MedSegDiff, Wu et al. 2023, and of the 3D PET/CT model that
concatenates modalities and noise) and passed through a time-conditioned UNet.

The condition encoder (convolution, GroupNorm, SiLU, convolution) normalises its features over each image, which
takes away the absolute intensity that tissue classes are told apart by (after the z-score of the volume); with
``raw_image=True`` (default) the image itself is concatenated too, so the backbone's stem sees what the plain
UNet's stem sees; ``condition_channels=0`` drops the encoder, so the network sees exactly the plain UNet's input
plus the noisy mask (and, with a field whose input scaling vanishes at the pure-noise end, e.g.
``LogitMaskField(input_scaling="wiener")`` on the linear-flow path, it is there the plain UNet plus a constant
time modulation).

With ``self_conditioning=True`` (Chen et al. 2022, "Analog Bits"; :mod:`sciddm.self_conditioning`) the network
also reads its previous clean estimate of the mask from the context (M more input channels: the analog mask
estimate, or the K class probabilities of the categorical variant; zeros when there is none), so a multi-step
draw can refine its own earlier estimate instead of only its noisy state.

* Continuous variant (``categorical=False``): ``x_t["mask"]`` is [B, M, *spatial] (M = ``mask_channels``:
  1 for a binary mask, K for an analog one-hot); the output has the same shape.
* Categorical variant (``categorical=True``, for :class:`sciddm.categorical_fields.CategoricalField`):
  ``x_t["mask"]`` is the noisy one-hot state [B, 1, *spatial, M] with M = ``categorical_states`` (default
  ``mask_channels`` = K, the uniform prior, i.e. BerDiff's Bernoulli noise for K = 2; K + 1 for the mask
  prior); the output is K logits [B, 1, *spatial, K].

:class:`SegmentationUNet` is the non-diffusion baseline on the same :class:`~domains.medseg.blocks.UNetBackbone`
without the time embedding: ``forward(image) -> logits [B, K, *spatial]``.
"""

from __future__ import annotations

import torch
from torch import nn

from domains.medseg.blocks import SinusoidalTimeEmbedding, UNetBackbone, conv, norm
from sciddm.errors import ConfigError
from sciddm.self_conditioning import previous_estimate


class ConditionEncoder(nn.Module):
    """Two full-resolution convolutions mapping the C-channel image to ``out_channels`` features."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, groups: int):
        super().__init__()
        self.layers = nn.Sequential(conv(spatial_dims, in_channels, out_channels), norm(out_channels, groups),
                                    nn.SiLU(), conv(spatial_dims, out_channels, out_channels))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.layers(image)


class ConditionalSegmentationUNet(nn.Module):
    """Time-conditioned UNet denoising ``x_t[field]`` given ``context[condition]`` (see the module docstring)."""

    def __init__(self, spatial_dims: int = 2, image_channels: int = 1, mask_channels: int = 1,
                 categorical: bool = False, base_channels: int = 16, channel_mults: tuple[int, ...] = (1, 2, 2),
                 blocks_per_level: int = 1, time_dim: int = 128, condition_channels: int = 16, groups: int = 8,
                 field: str = "mask", condition: str = "image", categorical_states: int | None = None,
                 raw_image: bool = True, self_conditioning: bool = False):
        super().__init__()
        if condition_channels <= 0 and not raw_image:
            raise ConfigError("the network would not see the image: set raw_image or condition_channels > 0")
        self.categorical, self.field, self.condition, self.raw_image = categorical, field, condition, raw_image
        self.self_conditioning = self_conditioning
        self.spatial_dims, self.image_channels, self.mask_channels = spatial_dims, image_channels, mask_channels
        self.time_embedding = SinusoidalTimeEmbedding(time_dim)
        self.encoder = (ConditionEncoder(spatial_dims, image_channels, condition_channels, groups)
                        if condition_channels > 0 else None)
        noisy_channels = categorical_states if categorical and categorical_states else mask_channels
        in_channels = (noisy_channels + condition_channels + (image_channels if raw_image else 0)
                       + (mask_channels if self_conditioning else 0))
        self.unet = UNetBackbone(spatial_dims, in_channels, mask_channels, base_channels, tuple(channel_mults),
                                 blocks_per_level, time_dim, groups)

    @property
    def num_classes(self) -> int:
        """Classes of the segmentation: ``mask_channels``, except 2 for a one-channel continuous (binary) mask."""
        return 2 if not self.categorical and self.mask_channels == 1 else self.mask_channels

    def channels_first(self, mask: torch.Tensor) -> torch.Tensor:
        """A mask-shaped tensor as [B, channels, *spatial] (the categorical [B, 1, *spatial, K] moved)."""
        return mask.squeeze(1).movedim(-1, 1) if self.categorical else mask

    def forward(self, x_t: dict[str, torch.Tensor], t: torch.Tensor,
                context: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        mask = self.channels_first(x_t[self.field])
        image = context[self.condition]
        inputs = ([mask] + ([self.encoder(image)] if self.encoder is not None else [])
                  + ([image] if self.raw_image else []))
        if self.self_conditioning:
            estimate_shape = (*x_t[self.field].shape[:-1], self.mask_channels) if self.categorical else mask.shape
            inputs.append(self.channels_first(previous_estimate(context, self.field, estimate_shape, mask)))
        features = torch.cat(inputs, dim=1)
        out = self.unet(features, self.time_embedding(t))
        if self.categorical:
            out = out.movedim(1, -1).unsqueeze(1)
        return {self.field: out}


class SegmentationUNet(nn.Module):
    """Plain UNet baseline: image [B, C, *spatial] -> class logits [B, K, *spatial] (K = ``num_classes``)."""

    def __init__(self, spatial_dims: int = 2, image_channels: int = 1, num_classes: int = 2,
                 base_channels: int = 16, channel_mults: tuple[int, ...] = (1, 2, 2), blocks_per_level: int = 1,
                 groups: int = 8):
        super().__init__()
        self.unet = UNetBackbone(spatial_dims, image_channels, num_classes, base_channels, tuple(channel_mults),
                                 blocks_per_level, None, groups)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.unet(image)
