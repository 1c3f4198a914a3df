"""Latent priors: EM against the closed-form moments of separated clusters, the kernel-density limit, the latent
diffusion prior's class means, and the choice by name."""

import pytest
import torch

from domains.pointclouds.data import PointCloudDataModule, ProceduralShapes
from domains.pointclouds.latent import LatentPointDenoiser
from domains.pointclouds.latent_priors import DiffusionPrior, LatentPrior, MixturePrior, fit_mixture, make_prior
from sciddm.errors import ConfigError

CENTRES = torch.tensor([[10.0, 0.0], [-10.0, 0.0], [0.0, 10.0]], dtype=torch.float64)


def clusters(per_cluster: int = 60, seed: int = 0) -> torch.Tensor:
    """Three far-apart clusters in 2-D with different shapes (responsibilities are 0/1 to double precision)."""
    generator = torch.Generator().manual_seed(seed)
    scales = torch.tensor([[1.0, 0.2], [0.3, 0.3], [0.5, 1.5]], dtype=torch.float64)
    noise = torch.randn(3, per_cluster, 2, generator=generator, dtype=torch.float64)
    return (CENTRES[:, None] + noise * scales[:, None]).reshape(-1, 2)


def test_em_on_separated_clusters_gives_each_clusters_own_moments():
    points = clusters()
    weights, means, covariances = fit_mixture(points, 3, torch.Generator().manual_seed(1), regularization=0.0)
    order = torch.cdist(CENTRES, means).argmin(dim=1)  # the component of each true cluster
    for k, block in enumerate(points.view(3, 60, 2)):
        torch.testing.assert_close(weights[order[k]], torch.tensor(1 / 3, dtype=torch.float64))
        torch.testing.assert_close(means[order[k]], block.mean(0))
        torch.testing.assert_close(covariances[order[k]], torch.cov(block.T, correction=0))


def test_one_component_is_the_gaussian_prior_and_many_components_the_kernel_density():
    points = clusters().float()
    labels = torch.zeros(len(points), dtype=torch.long)
    single, gaussian = MixturePrior(points, labels, 0.01, components=1), LatentPrior(points, labels, 0.01)
    _, means, factors = single.mixtures[0]
    torch.testing.assert_close(means[0], gaussian.means[0])
    torch.testing.assert_close(factors[0] @ factors[0].T, gaussian.factors[0] @ gaussian.factors[0].T, atol=1e-5,
                               rtol=0)  # fmt: skip
    lattice = torch.cartesian_prod(torch.arange(6.0), torch.arange(6.0)) * 5  # 36 latents 5 apart (>> 0.1 noise)
    kernel = MixturePrior(lattice, None, 0.01, components=1000)  # K >= n: one component per latent
    weights, means, _ = kernel.mixtures[0]
    assert torch.equal(means, lattice.double()) and torch.allclose(weights, torch.full((36,), 1 / 36.0).double())
    draws = kernel.sample(torch.zeros(4000, dtype=torch.long), torch.Generator().manual_seed(2)).double()
    offsets = draws - lattice.double()[torch.cdist(draws, lattice.double()).argmin(dim=1)]
    torch.testing.assert_close(offsets.var(0), torch.full((2,), 0.01, dtype=torch.float64), atol=0.0015, rtol=0)
    torch.testing.assert_close(offsets.mean(0), torch.zeros(2, dtype=torch.float64), atol=0.007, rtol=0)


@pytest.mark.slow
def test_diffusion_prior_learns_the_class_means_and_is_seeded():
    points = clusters(40).float() / 5  # class k around CENTRES[k] / 5
    labels = torch.arange(3).repeat_interleave(40)
    prior = DiffusionPrior(points, labels, extra_variance=0.0, steps=400, width=64, depth=2, seed=0)
    assert sum(prior.losses[-50:]) < sum(prior.losses[:50])
    draws = prior.sample(torch.arange(3).repeat_interleave(300), torch.Generator().manual_seed(0))
    for k in range(3):
        torch.testing.assert_close(draws[300 * k : 300 * (k + 1)].mean(0), points[labels == k].mean(0), atol=0.25,
                                   rtol=0)  # fmt: skip
    again = DiffusionPrior(points, labels, extra_variance=0.0, steps=400, width=64, depth=2, seed=0)
    assert torch.equal(again.sample(torch.tensor([0, 2, -1]), torch.Generator().manual_seed(5)),
                       prior.sample(torch.tensor([0, 2, -1]), torch.Generator().manual_seed(5)))  # fmt: skip


def test_priors_are_chosen_by_name_and_unknown_names_fail():
    points, labels = clusters(10).float(), torch.arange(3).repeat_interleave(10)
    assert isinstance(make_prior("mixture", points, labels, 0.0, components=2), MixturePrior)
    with pytest.raises(ConfigError, match="latent prior"):
        make_prior("flow", points, labels, 0.0)
    with pytest.raises(ConfigError, match="latent prior"):
        PointCloudDataModule(ProceduralShapes(count_per_family=2, n_points=8), shape_context=True, latent_prior="flow")
    datamodule = PointCloudDataModule(ProceduralShapes(count_per_family=4, n_points=8), val_fraction=0.0,
                                      class_conditional=True, shape_context=True, latent_prior="mixture",
                                      latent_prior_options={"components": 2})  # fmt: skip
    datamodule.setup()
    torch.manual_seed(0)
    network = LatentPointDenoiser(latent_dim=4, width=16, depth=2, time_dim=8, encoder_width=16)
    wrapper = datamodule.sampling_steering({})["network_wrapper"](network)
    assert isinstance(wrapper.prior, MixturePrior) and len(wrapper.prior.mixtures[0][0]) == 2
    for prior in (MixturePrior(points, labels, components=2), LatentPrior(points, labels)):
        with pytest.raises(ConfigError, match="label 3"):  # label == class count is no class (nor the pooled fit)
            prior.sample(torch.tensor([0, 3]))
