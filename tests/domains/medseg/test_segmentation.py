"""Ensemble segmentation of whole images with an oracle denoiser, member probabilities and the resolution helpers."""

import numpy as np
import pytest
import torch
from torch import nn

from domains.medseg.datasets import fit_to_size
from domains.medseg.segmentation import EnsembleSampler, Walk, predict_image, segment_image
from domains.medseg.transforms import block_affine, block_mean, block_upsample, decode_mask, mask_probabilities
from sciddm import DiffusionModule, GaussianField, LinearFlow, Sampler
from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError


class OracleDenoiser(nn.Module):
    """Predicts x0 = +1 where the image is positive and -1 elsewhere, whatever the noisy mask and time."""

    categorical, num_classes, spatial_dims, image_channels = False, 2, 2, 1

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x_t, t, context):
        return {"mask": torch.where(context["image"][:, :1] > 0, 1.0, -1.0) + 0 * self.unused}


def oracle_module(solver: str = "ddim", steps: int = 4) -> DiffusionModule:
    field = GaussianField(LinearFlow(), prediction="x0")
    return DiffusionModule(OracleDenoiser(), {"mask": field}, ema_decay=None,
                           sampler=Sampler(solver=solver, steps=steps, grid="uniform"))


@pytest.mark.parametrize("solver", ["ddim", "ddpm"])
def test_oracle_ensemble_segments_every_slice_exactly_with_zero_uncertainty(solver):
    image = np.random.default_rng(0).standard_normal((1, 6, 5, 7)).astype(np.float32)
    module = oracle_module(solver)
    draw = EnsembleSampler(module, ensemble=3, seed=0)
    for axis in (0, 2):
        result = segment_image(image, draw, Walk(spatial_dims=2, axis=axis, batch_size=4), "majority")
        assert np.array_equal(result.labels, image[0] > 0)  # every slice went back to its own place
        assert np.all(result.uncertainty == 0) and result.members.shape == (3, 2, 6, 5, 7)
        assert np.array_equal(result.members[:, 1], np.broadcast_to(image[0] > 0, (3, 6, 5, 7)))
    assert draw.nfe == 4  # one network call per step on the linear-flow path (sigma(0) = 0: no final call)


class CategoricalOracle(OracleDenoiser):
    """Logits that put (almost) all mass on class 1 where the image is positive, on class 0 elsewhere."""

    categorical = True

    def forward(self, x_t, t, context):
        labels = (context["image"][:, :1] > 0).long()
        return {"mask": 30.0 * torch.nn.functional.one_hot(labels, 2).float() + 0 * self.unused}


@pytest.mark.parametrize("prior", ["uniform", "mask"])
def test_categorical_oracle_ensemble_is_exact(prior):
    field = CategoricalField(num_classes=2, prior=prior)
    module = DiffusionModule(CategoricalOracle(), {"mask": field}, ema_decay=None,
                             sampler=Sampler(categorical_solver="ancestral", steps=5, grid="uniform"))
    image = np.random.default_rng(2).standard_normal((1, 5, 6, 4)).astype(np.float32)
    result = segment_image(image, EnsembleSampler(module, ensemble=3, seed=1), Walk(spatial_dims=2), "mean")
    assert np.array_equal(result.labels, image[0] > 0) and np.all(result.uncertainty == 0)


def test_categorical_network_takes_the_mask_state_as_an_extra_input_channel():
    from domains.medseg.denoisers import ConditionalSegmentationUNet

    network = ConditionalSegmentationUNet(mask_channels=2, categorical=True, categorical_states=3, base_channels=8)
    noisy = torch.nn.functional.one_hot(torch.randint(3, (2, 1, 8, 8)), 3).float()
    out = network({"mask": noisy}, torch.rand(2), {"image": torch.randn(2, 1, 8, 8)})["mask"]
    assert out.shape == (2, 1, 8, 8, 2) and network.num_classes == 2


def test_oracle_sliding_window_in_3d_is_exact_at_any_size():
    image = np.random.default_rng(1).standard_normal((1, 12, 10, 9)).astype(np.float32)
    module = oracle_module()
    module.network.spatial_dims = 3
    result = segment_image(image, EnsembleSampler(module, ensemble=2), Walk(spatial_dims=3, window=(8, 8, 8)))
    assert np.array_equal(result.labels, image[0] > 0)


def test_predict_image_walks_slices_along_the_axis_in_order():
    image = np.broadcast_to(np.arange(7, dtype=np.float32)[None, None, None], (1, 3, 4, 7)).copy()
    out = predict_image(image, lambda batch: batch.mean(dim=(2, 3), keepdim=True).expand_as(batch),
                        Walk(spatial_dims=2, axis=2, batch_size=3))
    assert np.array_equal(out, image)  # slice z is constant z: each batch of slices came back where it belongs
    with pytest.raises(ConfigError, match="a 3D model needs a 3D image"):
        predict_image(image[:, :, :, 0], lambda b: b, Walk(spatial_dims=3))


class NoiseKeepingDenoiser(OracleDenoiser):
    """Predicts x0 = x_t / 2: the initial noise survives, so different draws differ."""

    def forward(self, x_t, t, context):
        return {"mask": x_t["mask"] * 0.5 + 0 * self.unused}


def test_same_seed_same_ensemble_other_seed_other_draws():
    module = DiffusionModule(NoiseKeepingDenoiser(), {"mask": GaussianField(LinearFlow(), prediction="x0")},
                             ema_decay=None, sampler=Sampler(solver="ddim", steps=3, grid="uniform"))
    images = torch.zeros(2, 1, 4, 4)
    first, again = (EnsembleSampler(module, ensemble=2, seed=7)(images) for _ in range(2))
    other = EnsembleSampler(module, ensemble=2, seed=8)(images)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.equal(first[:, :2], first[:, 2:])  # the two members are two different draws


def test_member_probabilities_of_each_mask_variant():
    x = torch.tensor([-1.0, -0.2, 0.0, 0.5, 2.0]).reshape(1, 1, 5)
    p = mask_probabilities(x, "continuous", 2)
    assert p[0, 1].tolist() == pytest.approx([0.0, 0.4, 0.5, 0.75, 1.0]) and torch.allclose(p.sum(1), torch.ones(5))
    assert p.argmax(1).tolist() == decode_mask(x, "continuous").tolist()  # ties at 1/2 go to class 0, as decode
    analog = torch.tensor([[1.0, -1.0, 0.0], [-1.0, -1.0, -1.0]]).T.reshape(1, 3, 2)
    expected = [[2 / 3, 0, 1 / 3], [1 / 3, 1 / 3, 1 / 3]]  # second voxel: every channel clipped to 0 -> uniform
    assert np.allclose(mask_probabilities(analog, "continuous", 3)[0].T.numpy(), expected)
    labels = torch.tensor([[[0, 2, 1]]])
    assert mask_probabilities(labels, "categorical", 3)[0].T.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]


def test_block_affine_maps_a_reduced_voxel_to_the_centre_of_its_block():
    affine = np.array([[0.0, -1.2, 0.0, 30.0], [0.9, 0.0, 0.0, -5.0], [0.0, 0.0, 2.0, 7.0], [0, 0, 0, 1]])
    reduced = block_affine(affine, 3)
    j = np.array([2, 1, 4, 1.0])
    block = [affine @ np.array([3 * j[0] + a, 3 * j[1] + b, 3 * j[2] + c, 1.0])
             for a in range(3) for b in range(3) for c in range(3)]
    assert np.allclose(reduced @ j, np.mean(block, axis=0))


def test_block_upsample_undoes_block_mean_on_constant_blocks_and_pads_the_edge():
    coarse = np.arange(6, dtype=float).reshape(1, 2, 3)
    fine = block_upsample(coarse, 2, (5, 7))
    assert fine.shape == (1, 5, 7) and fine[0, 4].tolist() == fine[0, 3].tolist() and fine[0, 0, 6] == 2
    assert np.array_equal(block_mean(fine[:, :4, :6], 2, first_axis=1), coarse)
    assert np.array_equal(block_upsample(coarse, 1, (2, 3)), coarse)
    assert fit_to_size(fine[0], (4, 6)).shape == (4, 6)
