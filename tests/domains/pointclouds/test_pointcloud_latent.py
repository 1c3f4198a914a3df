"""The shape-latent model: permutation symmetry, masking, codes averaged over samplings, the latent prior's
moments, seeded sampling."""

import numpy as np
import pytest
import torch

from domains.pointclouds.data import MeshFiles, PointCloudDataModule, ProceduralShapes
from domains.pointclouds.latent import LatentPointDenoiser, LatentSampling
from domains.pointclouds.latent_priors import LatentPrior
from domains.pointclouds.normalize import normalize
from sciddm.errors import ConfigError
from sciddm.sampling import CountingNetwork


def small_network() -> LatentPointDenoiser:
    torch.manual_seed(0)
    return LatentPointDenoiser(latent_dim=4, width=16, depth=2, time_dim=8, encoder_width=16).eval()


def test_permuting_the_points_permutes_the_output_and_leaves_the_latent():
    network, points = small_network(), torch.randn(2, 10, 3)
    permutation = torch.randperm(10, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.3, 0.8])
    out = network({"points": points}, t, {"shape": points})["points"]
    permuted = network({"points": points[:, permutation]}, t, {"shape": points[:, permutation]})["points"]
    torch.testing.assert_close(permuted, out[:, permutation])
    torch.testing.assert_close(network.encode(points[:, permutation]), network.encode(points))


def test_padded_points_get_zero_and_do_not_change_the_real_ones():
    network, points = small_network(), torch.randn(1, 6, 3)
    padded = torch.cat([points, 100 * torch.randn(1, 3, 3)], dim=1)
    mask = torch.tensor([[True] * 6 + [False] * 3])
    t = torch.tensor([0.5])
    out = network({"points": padded}, t, {"shape": padded, "node_mask": mask})["points"]
    assert torch.all(out[0, 6:] == 0)
    torch.testing.assert_close(out[:, :6], network({"points": points}, t, {"shape": points})["points"])


def test_codes_averaged_over_samplings_are_the_normalised_mean_code():
    network, samplings = small_network(), torch.randn(3, 2, 7, 3)  # 3 samplings of 2 shapes
    codes = torch.stack([network.encode(sampling) for sampling in samplings])
    mean = codes.mean(0)
    expected = (mean - mean.mean(-1, keepdim=True)) / torch.sqrt(mean.var(-1, unbiased=False, keepdim=True) + 1e-5)
    torch.testing.assert_close(network.encode_samplings(samplings), expected)
    assert torch.allclose(expected.mean(-1), torch.zeros(2), atol=1e-6)  # on the encoder's sphere again
    torch.testing.assert_close(network.encode_samplings(samplings[:1].expand(4, -1, -1, -1)), codes[0], atol=2e-3,
                               rtol=0)  # one sampling repeated: its own code (up to the norm's eps)  # fmt: skip


def test_a_given_latent_replaces_the_encoding_and_one_is_required():
    network, points = small_network(), torch.randn(2, 5, 3)
    t = torch.tensor([0.5, 0.5])
    latent = network.encode(points)
    torch.testing.assert_close(network({"points": points}, t, {"latent": latent})["points"],
                               network({"points": points}, t, {"shape": points})["points"])  # fmt: skip
    with pytest.raises(ConfigError, match="shape"):
        network({"points": points}, t, {})


def test_prior_moments_are_the_fitted_ones_plus_the_training_noise():
    generator = torch.Generator().manual_seed(0)
    latents = torch.cat([torch.randn(50, 2, generator=generator) * torch.tensor([1.0, 0.2]) + 3,
                         torch.randn(40, 2, generator=generator) - 3])  # fmt: skip
    labels = torch.tensor([0] * 50 + [1] * 40)
    prior = LatentPrior(latents, labels, extra_variance=0.01)
    torch.testing.assert_close(prior.means[0], latents[:50].double().mean(0))
    torch.testing.assert_close(prior.means[2], latents.double().mean(0))  # label -1: the pooled fit
    covariance = prior.factors[1] @ prior.factors[1].T
    expected = torch.cov(latents[50:].double().T, correction=0) + 0.01 * torch.eye(2, dtype=torch.float64)
    torch.testing.assert_close(covariance, expected, atol=1e-8, rtol=0)
    draws = prior.sample(torch.zeros(20000, dtype=torch.long), torch.Generator().manual_seed(1)).double()
    torch.testing.assert_close(draws.mean(0), prior.means[0], atol=0.03, rtol=0)  # 4 standard errors
    torch.testing.assert_close(draws.var(0), torch.diagonal(prior.factors[0] @ prior.factors[0].T), atol=0.05, rtol=0)
    with pytest.raises(ConfigError, match="label 5"):
        prior.sample(torch.tensor([5]))


def test_latent_sampling_draws_once_per_run_and_is_seeded():
    network, train = small_network(), torch.randn(12, 8, 3)
    labels = torch.arange(12) % 3
    calls = []
    original = network.forward
    network.forward = lambda x, t, context: calls.append(context["latent"]) or original(x, t, context)
    inputs, context = {"points": torch.randn(4, 8, 3)}, {"label": torch.tensor([0, 1, 2, -1])}
    wrapper = LatentSampling(network, train, labels, seed=3)
    wrapper(inputs, torch.full((4,), 0.9), context)
    wrapper(inputs, torch.full((4,), 0.1), context)
    assert torch.equal(calls[0], calls[1])  # one latent per cloud for the whole trajectory
    LatentSampling(network, train, labels, seed=3)(inputs, torch.full((4,), 0.9), context)
    assert torch.equal(calls[2], calls[0])
    with pytest.raises(ConfigError, match="guidance"):
        wrapper({"points": torch.randn(8, 8, 3)}, torch.full((8,), 0.5), {})
    counter = CountingNetwork(network)  # the core wraps the network before the wrapper sees it
    LatentSampling(counter, train, labels, seed=3)(inputs, torch.full((4,), 0.9), context)
    assert counter.calls == 1 and torch.equal(calls[3], calls[0])
    with pytest.raises(ConfigError, match="LatentPointDenoiser"):
        LatentSampling(CountingNetwork(torch.nn.Linear(3, 3)), train, labels)


def test_data_module_with_shape_context_samples_through_the_latent_prior():
    source = ProceduralShapes(count_per_family=3, n_points=16, seed=0)
    datamodule = PointCloudDataModule(source, batch_size=4, val_fraction=0.0, class_conditional=True,
                                      shape_context=True)  # fmt: skip
    datamodule.setup()
    steering = datamodule.sampling_steering({})
    wrapper = steering["network_wrapper"](small_network())
    assert isinstance(wrapper, LatentSampling) and wrapper.seed == 0
    assert datamodule.sampling_steering({})["network_wrapper"](small_network()).seed == 1  # next call, next seed
    assert PointCloudDataModule(source).sampling_steering({})["network_wrapper"] is None


def test_procedural_samplings_are_blocks_of_the_same_shapes_and_the_prior_averages_their_codes():
    source = ProceduralShapes(count_per_family=4, n_points=16, seed=0)
    samplings = source.load_samplings(3)
    dense = ProceduralShapes(count_per_family=4, n_points=48, seed=0).load().points
    for k, sampling in enumerate(samplings):  # block k of the shapes drawn with 3 x 16 points
        np.testing.assert_array_equal(sampling.points, dense[:, 16 * k : 16 * (k + 1)])
    np.testing.assert_array_equal(source.load_samplings(1)[0].points, source.load().points)
    datamodule = PointCloudDataModule(source, val_fraction=0.25, class_conditional=True, shape_context=True,
                                      latent_code_samplings=3)  # fmt: skip
    datamodule.setup()
    network = small_network()
    wrapper = datamodule.sampling_steering({})["network_wrapper"](network)
    index = datamodule.train_index
    expected = network.encode_samplings(torch.stack([torch.tensor(normalize(s.points[index], "unit_sphere"),
                                                                  dtype=torch.float32) for s in samplings]))
    reference = LatentPrior(expected, datamodule.datasets["train"].labels)
    torch.testing.assert_close(wrapper.prior.means, reference.means)
    assert datamodule.latent_training_points() is datamodule.latent_training_points()  # generated once, reused
    with pytest.raises(ConfigError, match="latent_code_samplings"):
        PointCloudDataModule(MeshFiles(["x.obj"]), shape_context=True, latent_code_samplings=2)
