r"""The mask as a Gaussian field whose denoiser outputs class logits, trained by cross-entropy + soft Dice.

The state is the analog mask of :func:`domains.medseg.transforms.encode_mask` (``2y - 1`` for a binary mask,
one channel; the one-hot code mapped to {-1, 1} for K > 2 classes, K channels) on any Gaussian path
:math:`x_t = \alpha_t x_0 + \sigma_t \varepsilon`. The network output ``l`` is read as class logits, and the
clean estimate is the mean of the analog mask under them:

* one channel: :math:`p = \mathrm{sigmoid}(l)`, :math:`\hat x_0 = 2p - 1 = \tanh(l/2)`;
* K channels: :math:`p = \mathrm{softmax}(l)`, :math:`\hat x_0 = 2p - 1`.

Since the cross-entropy is a proper scoring rule, its minimiser is :math:`p = P(y \mid x_t, \text{image})`, so
with ``dice_weight=0`` the optimal :math:`\hat x_0` is the posterior mean :math:`E[x_0 \mid x_t]` that the
few-step solvers need, exactly as for the squared-error x0 loss (the soft Dice term trades some of that
calibration for overlap, as in the baseline). At the highest noise level (:math:`\alpha = 0`) :math:`x_t` is
pure noise, so the task and loss are those of the plain supervised UNet (:mod:`domains.medseg.baseline`).

Loss of a batch (per sample ``i``, as the core's :class:`~sciddm.fields.Field` contract asks):
:math:`\ell_i = \mathrm{CE}_i + w_D (1 - \mathrm{softDice}) + w_{x_0}\,\mathrm{mean}(\hat x_0 - x_0)^2_i`, with
:math:`\mathrm{CE}_i` the voxel-mean cross-entropy of sample ``i`` and softDice the batch-pooled soft Dice of
:func:`domains.medseg.baseline.soft_dice` (one value for the whole batch, repeated for every sample, so the
batch mean of :math:`\ell_i` is CE + Dice loss as in the baseline). The squared-error term (off by default)
is the plain x0 loss of :class:`~sciddm.fields.GaussianField`.

Network input (``input_scaling``): ``none`` passes :math:`x_t`; ``wiener`` passes
:math:`c_{in} x_t` with :math:`c_{in} = \alpha_t / (\alpha_t^2 + \sigma_t^2)`, the linear least-squares
estimate of :math:`x_0` from :math:`x_t` for a unit-variance :math:`x_0`. It equals :math:`x_t` at
:math:`t = 0` and is exactly zero where :math:`\alpha_t = 0` (the start of the linear-flow path), where
:math:`x_t` is pure noise that carries no information about the mask: the first step of every draw is then the
same function of the image alone, instead of a function that must learn to ignore an input of unit variance.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from domains.medseg.baseline import soft_dice
from sciddm.errors import choose
from sciddm.fields import Context, GaussianField, masked_mean
from sciddm.schedules import Schedule

INPUT_SCALINGS = ("none", "wiener")


class LogitMaskField(GaussianField):
    """Gaussian field on the analog mask with a logit head and CE + soft Dice loss (see the module docstring)."""

    def __init__(self, schedule: Schedule, dice_weight: float = 1.0, x0_weight: float = 0.0,
                 input_scaling: str = "none", weight: float = 1.0):
        super().__init__(schedule, prediction="x0", weight=weight)
        self.dice_weight, self.x0_weight = dice_weight, x0_weight
        choose(input_scaling, dict.fromkeys(INPUT_SCALINGS), "input scaling")
        self.input_scaling = input_scaling

    @staticmethod
    def probabilities(logits: Tensor) -> Tensor:
        """Class probabilities [B, C, *spatial] (C = 2 for a one-channel mask: ``[1 - p, p]``)."""
        if logits.shape[1] == 1:
            p = torch.sigmoid(logits)
            return torch.cat([1.0 - p, p], dim=1)
        return logits.softmax(dim=1)

    @staticmethod
    def labels(x0: Tensor) -> Tensor:
        """Integer labels [B, *spatial] of a clean analog mask."""
        return (x0[:, 0] > 0).long() if x0.shape[1] == 1 else x0.argmax(dim=1)

    def network_input(self, x_t: Tensor, t: Tensor) -> Tensor:
        """:math:`x_t`, or :math:`\\alpha_t x_t / (\\alpha_t^2 + \\sigma_t^2)` for ``wiener`` (module docstring)."""
        if self.input_scaling == "none":
            return x_t
        alpha, sigma = self.path.coefficients(t, x_t)
        return alpha * x_t / (alpha**2 + sigma**2)

    def denoised(self, output: Tensor, x_t: Tensor, t: Tensor | float) -> Tensor:
        """:math:`\\hat x_0 = 2p - 1` (``tanh(l/2)`` for one channel)."""
        if output.shape[1] == 1:
            return torch.tanh(0.5 * output)
        return 2.0 * output.softmax(dim=1) - 1.0

    def loss(self, output: Tensor, x0: Tensor, x_t: Tensor, aux: Tensor, t: Tensor, context: Context) -> Tensor:
        labels = self.labels(x0)
        if output.shape[1] == 1:
            voxel_ce = F.binary_cross_entropy_with_logits(output[:, 0], labels.to(output.dtype), reduction="none")
        else:
            voxel_ce = F.cross_entropy(output, labels, reduction="none")
        loss = masked_mean(voxel_ce, None)
        if self.dice_weight:
            loss = loss + self.dice_weight * (1.0 - soft_dice(self.probabilities(output), labels))
        if self.x0_weight:
            loss = loss + self.x0_weight * masked_mean((self.denoised(output, x_t, t) - x0) ** 2, None)
        return loss
