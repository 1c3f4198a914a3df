"""Latent priors: EM against the closed-form moments of separated clusters, the kernel-density limit, the latent
diffusion prior's class means, the choice by name, densities against the written-out formula, the leave-one-out
bandwidth selector against a brute-force likelihood, components chosen by held-out likelihood."""

import math

import pytest
import torch

from domains.pointclouds.data import PointCloudDataModule, ProceduralShapes
from domains.pointclouds.latent import LatentPointDenoiser
from domains.pointclouds.latent_priors import (
    DiffusionPrior,
    GaussianMixture,
    KernelPrior,
    LatentPrior,
    MixturePrior,
    fit_mixture,
    held_out_log_likelihood,
    leave_one_out_log_likelihood,
    make_prior,
)
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


def brute_force_mixture_log_prob(point: torch.Tensor, weights, means, covariances) -> float:
    """``log sum_k w_k N(x; m_k, C_k)`` written out: ``N = exp(-q/2) / sqrt((2 pi)^D det C)``."""
    total = 0.0
    for w, m, c in zip(weights, means, covariances, strict=True):
        d = point - m
        quadratic = float(d @ torch.linalg.solve(c, d))
        total += float(w) * math.exp(-quadratic / 2) / math.sqrt((2 * math.pi) ** len(d) * float(torch.det(c)))
    return math.log(total)


def test_mixture_log_prob_is_the_written_out_density():
    weights = torch.tensor([0.3, 0.7], dtype=torch.float64)
    means = torch.tensor([[0.0, 1.0], [2.0, -1.0]], dtype=torch.float64)
    covariances = torch.tensor([[[1.0, 0.3], [0.3, 0.5]], [[0.4, 0.0], [0.0, 2.0]]], dtype=torch.float64)
    mixture = GaussianMixture.of(weights, means, covariances)
    points = torch.tensor([[0.5, 0.5], [3.0, -2.0], [-1.0, 4.0]], dtype=torch.float64)
    expected = [brute_force_mixture_log_prob(p, weights, means, covariances) for p in points]
    torch.testing.assert_close(mixture.log_prob(points), torch.tensor(expected, dtype=torch.float64))


def test_leave_one_out_likelihood_matches_the_brute_force_and_the_k_fold_limit():
    points = clusters(6).double()  # 18 points
    covariance = torch.tensor([[0.8, 0.1], [0.1, 0.3]], dtype=torch.float64)
    n = len(points)
    brute = sum(brute_force_mixture_log_prob(points[i], [1 / (n - 1)] * (n - 1),
                                             torch.cat([points[:i], points[i + 1 :]]), [covariance] * (n - 1))
                for i in range(n)) / n  # fmt: skip
    assert leave_one_out_log_likelihood(points, covariance) == pytest.approx(brute, rel=1e-10)

    def kernel(part: torch.Tensor) -> GaussianMixture:
        return GaussianMixture.of(torch.full((len(part),), 1 / len(part), dtype=torch.float64), part,
                                  covariance.expand(len(part), 2, 2))  # fmt: skip

    k_fold = held_out_log_likelihood(kernel, points, folds=n, generator=torch.Generator().manual_seed(0))
    assert k_fold == pytest.approx(brute, rel=1e-6)  # n folds of one point: leave-one-out (1e-9 jitter aside)


def test_kernel_prior_takes_the_bandwidth_of_highest_leave_one_out_likelihood():
    points, labels = clusters(20).float(), torch.arange(3).repeat_interleave(20)
    candidates = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
    prior = KernelPrior(points, labels, extra_variance=0.01, shape="isotropic", candidates=candidates)
    for group, chosen in zip([*points.view(3, 20, 2), points], prior.bandwidths, strict=True):
        eye = torch.eye(2, dtype=torch.float64)
        scores = [leave_one_out_log_likelihood(group.double(), (h * h + 0.01) * eye) for h in candidates]
        assert chosen == candidates[max(range(len(candidates)), key=scores.__getitem__)]
    # two latents d apart: each scores the other by N(d; 0, v I), largest at v = |d|^2 / D, so h^2 = |d|^2 / D - s^2
    pair = KernelPrior(torch.tensor([[0.0, 0.0], [2.0, 0.0]]), None, 0.01, candidates=(1.0, 1.99**0.5, 1.5, 2.0))
    assert pair.bandwidths == [1.99**0.5, 1.99**0.5]
    weights, means, factors = prior.mixtures[0]
    assert torch.equal(means, points[:20].double()) and torch.allclose(weights, torch.full((20,), 0.05).double())
    expected = (prior.bandwidths[0] ** 2 + 0.01) * torch.eye(2, dtype=torch.float64)
    torch.testing.assert_close(factors[7] @ factors[7].T, expected)
    shaped = KernelPrior(points, labels, 0.01, bandwidth=0.5, shape="covariance")
    torch.testing.assert_close(shaped.mixtures[1].factors[0] @ shaped.mixtures[1].factors[0].T,
                               0.25 * torch.cov(points[20:40].double().T, correction=0) + 0.01 * torch.eye(2).double())
    with pytest.raises(ConfigError, match="bandwidth"):
        KernelPrior(points, labels, bandwidth=-1.0)
    with pytest.raises(ConfigError, match="kernel shape"):
        KernelPrior(points, labels, bandwidth=0.5, shape="round")


def test_mixture_components_chosen_by_held_out_likelihood_find_the_three_clusters():
    points = clusters(40).float()
    prior = MixturePrior(points, None, 0.0, components="auto", candidates=(1, 2, 3), folds=5)
    assert prior.components == [3, 3] and max(prior.scores[0], key=prior.scores[0].get) == 3
    assert prior.scores[0][1] < prior.scores[0][2] < prior.scores[0][3]
    diagonal = MixturePrior(points, None, 0.0, components=3, covariance="diagonal")
    for _, _, factors in diagonal.mixtures:
        covariances = factors @ factors.transpose(1, 2)
        assert torch.count_nonzero(covariances - torch.diag_embed(torch.diagonal(covariances, dim1=1, dim2=2))) == 0
    with pytest.raises(ConfigError, match="components"):
        MixturePrior(points, None, components="many")
    with pytest.raises(ConfigError, match="mixture covariance"):
        MixturePrior(points, None, components=2, covariance="tied")


def test_prior_log_prob_follows_the_labels():
    points, labels = clusters(15).float(), torch.arange(3).repeat_interleave(15)
    queries, query_labels = torch.tensor([[10.0, 0.5], [0.0, 9.0], [1.0, 1.0]]), torch.tensor([0, 2, -1])
    for prior in (MixturePrior(points, labels, 0.01, components=2), KernelPrior(points, labels, 0.01)):
        expected = torch.stack([prior.mixtures[g].log_prob(q[None])[0] for g, q in zip([0, 2, 3], queries,
                                                                                         strict=True)])  # fmt: skip
        torch.testing.assert_close(prior.log_prob(queries, query_labels), expected)
    gaussian = LatentPrior(points, labels, 0.01)
    covariance = torch.cov(points[15:30].double().T, correction=0) + 0.01 * torch.eye(2).double()
    query = torch.tensor([[-10.2, 0.1]])  # near class 1 (centre (-10, 0)): the written-out density does not underflow
    expected = brute_force_mixture_log_prob(query[0].double(), [1.0], points[15:30].double().mean(0)[None],
                                            [covariance])  # fmt: skip
    assert float(gaussian.log_prob(query, torch.tensor([1]))[0]) == pytest.approx(expected, rel=1e-6)  # 1e-9 I jitter
