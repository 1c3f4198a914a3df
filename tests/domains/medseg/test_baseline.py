"""The supervised UNet baseline: soft Dice by hand, and its loss on a perfect prediction."""

import pytest
import torch

from domains.medseg.baseline import SupervisedSegmentationModule, soft_dice
from domains.medseg.denoisers import SegmentationUNet
from domains.medseg.transforms import encode_mask


def test_soft_dice_by_hand():
    labels = torch.tensor([[0, 1, 1, 0]])  # [B=1, 4]
    probabilities = torch.tensor([[[0.5, 0.5, 1.0, 0.0], [0.5, 0.5, 0.0, 1.0]]])  # [B=1, C=2, 4]
    # class 1: sum p = 0.5 + 0.5 + 0 + 1 = 2, sum y = 2, overlap = 0.5 + 0 = 0.5 -> 2 * 0.5 / 4 = 0.25
    assert soft_dice(probabilities, labels).item() == pytest.approx(0.25)
    perfect = torch.nn.functional.one_hot(labels, 2).movedim(-1, 1).float()
    assert soft_dice(perfect, labels).item() == pytest.approx(1.0)
    assert soft_dice(torch.stack([torch.ones(1, 4), torch.zeros(1, 4)], 1), torch.zeros(1, 4, dtype=torch.long)
                     ).item() == 1.0  # class absent from prediction and labels counts 1


class Constant(torch.nn.Module):
    """Returns fixed logits, whatever the image."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = torch.nn.Parameter(logits)

    def forward(self, image):
        return self.logits


def test_loss_is_cross_entropy_plus_dice_term():
    labels = torch.tensor([[[0, 1], [1, 1]]])
    logits = torch.zeros(1, 2, 2, 2)  # uniform: CE = log 2, soft Dice of class 1 = 2 * 1.5 / (2 + 3) = 0.6
    module = SupervisedSegmentationModule(Constant(logits), dice_weight=0.5, ema_decay=None)
    batch = {"mask": encode_mask(labels, 2, "continuous"), "context": {"image": torch.zeros(1, 1, 2, 2)}}
    assert module.loss(module.network, batch).item() == pytest.approx(torch.log(torch.tensor(2.0)).item() + 0.2)


def test_probabilities_are_a_softmax_over_classes():
    module = SupervisedSegmentationModule(SegmentationUNet(base_channels=8, channel_mults=(1, 2)))
    p = module.probabilities(torch.randn(2, 1, 12, 10))
    assert p.shape == (2, 2, 12, 10) and torch.allclose(p.sum(1), torch.ones(2, 12, 10))


def test_ema_has_the_warm_up_of_the_diffusion_module():
    network = torch.nn.Linear(1, 1, bias=False)
    module = SupervisedSegmentationModule(network, ema_decay=0.99)
    for value in (1.0, 12.0):  # the first update copies; the second has decay min(0.99, (1 + 1) / (10 + 1))
        network.weight.data.fill_(value)
        module.ema.update_parameters(network)
    assert module.prediction_network.weight.item() == pytest.approx(2 / 11 * 1.0 + 9 / 11 * 12.0)
