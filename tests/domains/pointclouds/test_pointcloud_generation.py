"""Class-conditional sampling (with classifier-free guidance) and completion/upsampling by replacement.

The sampling tests use an exact denoiser: the data are a mixture of fixed clouds ``c_k`` (one per class), whose
clean-data posterior mean is known in closed form, so the right answers are known exactly.
"""

import numpy as np
import pytest
import torch
from torch import nn

from domains.pointclouds.data import PointCloudDataModule, PointCloudDataset, PointCloudSet, ProceduralShapes
from domains.pointclouds.denoisers import KnownPointsDenoiser
from domains.pointclouds.generation import complete, completion_request, completion_scores, generate, sample_classes
from domains.pointclouds.partial import half_space_cut, random_directions, random_subset
from sciddm import DiffusionModule, GaussianField
from sciddm.errors import ConfigError
from sciddm.sampling import Sampler
from sciddm.schedules import LinearFlow


class MixtureOracle(nn.Module):
    """Exact ``E[x0 | x_t, label]`` for data = cloud ``c_k`` with probability ``1/K`` (label ``k``), on a path
    ``x_t = alpha x0 + sigma eps``: ``c_label`` for a class label; for the null label (-1) the posterior mean
    ``sum_k w_k c_k`` with ``w = softmax_k(-|x_t - alpha c_k|^2 / (2 sigma^2))``."""

    def __init__(self, clouds: torch.Tensor, schedule):
        super().__init__()
        self.register_buffer("clouds", clouds)
        self.schedule = schedule

    def forward(self, x_t, t, context):
        x = x_t["points"]
        alpha, sigma = self.schedule.alpha(t)[:, None, None, None], self.schedule.sigma(t)[:, None, None, None]
        distance = ((x[:, None] - alpha * self.clouds[None]) ** 2).sum(dim=(2, 3))
        weights = torch.softmax(-distance / (2 * sigma[:, :, 0, 0] ** 2).clamp_min(1e-12), dim=1)
        posterior = torch.einsum("bk,knd->bnd", weights, self.clouds)
        label = context.get("label", torch.full((len(x),), -1))
        conditional = self.clouds[label.clamp_min(0)]
        return {"points": torch.where((label >= 0)[:, None, None], conditional, posterior)}


def oracle_module(clouds: torch.Tensor, mask_key: str = "node_mask") -> DiffusionModule:
    schedule = LinearFlow()
    field = GaussianField(schedule, prediction="x0", mask_key=mask_key)
    return DiffusionModule(MixtureOracle(clouds, schedule), {"points": field}, ema_decay=None)


@pytest.fixture(scope="module")
def clouds() -> torch.Tensor:
    """Two well separated 24-point clouds (a small sphere-ish blob at +1 and one at -1 on x)."""
    base = torch.randn(2, 24, 3, generator=torch.Generator().manual_seed(0)) * 0.2
    return base + torch.tensor([[1.0, 0, 0], [-1.0, 0, 0]])[:, None]


SAMPLER = Sampler(solver="dpmpp_2m", steps=12, grid="uniform")


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_class_conditional_sampling_returns_each_label_s_cloud(clouds, scale):
    """With a class label the exact conditional denoiser always predicts c_label, so every sample is c_label;
    classifier-free guidance (w = 3) ends there too and costs two network calls per step (one at w = 1)."""
    labels = torch.tensor([0, 1, 1, 0, 1])
    samples, nfe = sample_classes(oracle_module(clouds), labels, 24, SAMPLER, seed=1, guidance_scale=scale)
    assert samples.shape == (5, 24, 3)
    torch.testing.assert_close(samples, clouds[labels], atol=1e-4, rtol=0)
    assert nfe == SAMPLER.steps * (1 if scale == 1.0 else 2)


def test_unconditional_samples_land_on_one_of_the_clouds(clouds):
    """Null label: the exact mixture posterior carries every sample to one of the two clouds, and over 40 seeds'
    worth of samples both are reached (each has prior 1/2: P(all on one) = 2^-39)."""
    samples, _ = sample_classes(oracle_module(clouds), -torch.ones(40, dtype=torch.long), 24, SAMPLER, seed=2)
    error = (samples[:, None] - clouds[None]).abs().amax(dim=(2, 3))  # [40, 2]
    assert torch.all(error.min(dim=1).values < 1e-3)
    chosen = error.argmin(dim=1)
    assert 0 < int(chosen.sum()) < 40


def test_guidance_needs_labels_and_labels_need_one_per_cloud(clouds):
    module = oracle_module(clouds)
    template, context = completion_request(clouds[:1, :4], 24)
    with pytest.raises(ConfigError, match="needs class labels"):
        generate(module, template, context, SAMPLER, guidance_scale=2.0)
    with pytest.raises(ConfigError, match=r"one label per cloud \(3\)"):
        sample_classes(module, torch.zeros(3, 1, dtype=torch.long), 24)


@pytest.mark.parametrize("mask_key", ["node_mask", "free_mask"])
def test_completion_keeps_known_points_exactly_and_finds_the_matching_cloud(clouds, mask_key):
    """Known = the first 16 points of c_1 (null label): replacement returns them bit for bit, and the exact
    posterior, conditioned through them, generates the other 8 points of c_1 (not of c_0). A field whose loss
    mask is ``free_mask`` (conditional completion models) zeroes the known slots; they come back exactly."""
    known = clouds[[1, 0, 1], :16]
    completed, nfe = complete(oracle_module(clouds, mask_key), known, 24, SAMPLER, seed=3)
    assert nfe == SAMPLER.steps
    assert torch.equal(completed[:, :16], known)
    torch.testing.assert_close(completed[:, 16:], clouds[[1, 0, 1], 16:], atol=1e-3, rtol=0)


def test_completion_request_layout_and_bad_sizes():
    known = torch.arange(12.0).reshape(2, 2, 3)
    template, context = completion_request(known, 5, labels=torch.tensor([2, 0]))
    assert template["points"].shape == (2, 5, 3) and context["node_mask"].all()
    assert torch.equal(context["observed"][:, :2], known) and not context["observed"][:, 2:].any()
    assert context["known_mask"][:, :, 0].tolist() == [[1, 1, 0, 0, 0]] * 2
    assert context["free_mask"].tolist() == [[False, False, True, True, True]] * 2
    assert context["label"].tolist() == [2, 0]
    with pytest.raises(ConfigError, match=r"1 <= K < 2"):
        completion_request(known, 2)


def test_half_space_cut_by_hand_and_by_brute_force():
    line = np.array([[[2.0, 0, 0], [0, 0, 0], [3, 0, 0], [1, 0, 0]]])
    assert half_space_cut(line, [1.0, 0, 0], 2)[0, :, 0].tolist() == [3.0, 2.0]
    assert half_space_cut(line, [-1.0, 0, 0], 3)[0, :, 0].tolist() == [0.0, 1.0, 2.0]
    clouds = np.random.default_rng(0).normal(size=(5, 50, 3))
    directions = random_directions(5, seed=1)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=1), 1.0)
    kept = half_space_cut(clouds, directions, 20)
    for cloud, part, d in zip(clouds, kept, directions, strict=True):
        projections = np.sort(cloud @ d)
        np.testing.assert_allclose(np.sort(part @ d), projections[-20:])  # exactly the 20 beyond the plane


def test_random_subset_draws_distinct_points_of_each_cloud_reproducibly():
    clouds = np.arange(2 * 10 * 3, dtype=float).reshape(2, 10, 3)
    subset = random_subset(clouds, 6, seed=4)
    for cloud, part in zip(clouds, subset, strict=True):
        rows = {tuple(p) for p in part}
        assert len(rows) == 6 and rows <= {tuple(p) for p in cloud}
    np.testing.assert_array_equal(subset, random_subset(clouds, 6, seed=4))
    with pytest.raises(ConfigError, match=r"n_known must be in \[1, 10\], got 11"):
        random_subset(clouds, 11, seed=0)


def test_completion_scores_closed_forms():
    """A cloud against itself scores 0; a lattice of spacing 1 moved by t (|t_k| < 1/2) scores CD = 2|t|^2 and
    EMD = |t| (every point's nearest neighbour and optimal partner is its own translate)."""
    axis = np.arange(4.0)
    lattice = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    shift = np.array([0.1, -0.2, 0.05])
    assert completion_scores(lattice, lattice) == {"cd": 0.0, "emd": 0.0}
    scores = completion_scores(lattice + shift, lattice)
    assert scores["cd"] == pytest.approx(2 * shift @ shift, rel=1e-9)
    assert scores["emd"] == pytest.approx(np.linalg.norm(shift), rel=1e-9)
    with pytest.raises(ConfigError, match="EMD needs equal sizes: 63 vs 64"):
        completion_scores(lattice[:, :63], lattice)


class Recorder(nn.Module):
    """Returns its input: what the wrapped network saw."""

    def forward(self, x_t, t, context):
        return x_t


def test_known_points_denoiser_shows_the_network_clean_known_points():
    known = torch.tensor([[[1.0, 2, 3], [4, 5, 6]]])
    _, context = completion_request(known, 4)
    noisy = torch.randn(1, 4, 3)
    seen = KnownPointsDenoiser(Recorder())({"points": noisy}, torch.ones(1), context)["points"]
    assert torch.equal(seen[:, :2], known) and torch.equal(seen[:, 2:], noisy[:, 2:])
    unconditioned = KnownPointsDenoiser(Recorder())({"points": noisy}, torch.ones(1), {})["points"]
    assert torch.equal(unconditioned, noisy)


def test_partial_views_for_conditional_training_are_half_space_cuts():
    """Points on a line at x = 0..9 plus two padded slots at x = 100: a half-space cut of 3 real points is
    {0, 1, 2} or {7, 8, 9} (never padding); over 40 seeded draws both occur; observed/free masks agree."""
    points = np.zeros((1, 12, 3))
    points[0, :, 0] = [*range(10), 100, 100]
    mask = np.arange(12)[None] < 10
    dataset = PointCloudDataset(PointCloudSet(points, mask), with_labels=False, seed=0, known_points=3)
    seen = set()
    for _ in range(40):
        item = dataset[0]
        known = item["known_mask"][:, 0].bool()
        seen.add(tuple(int(x) for x in item["points"][known, 0]))
        assert torch.equal(item["observed"], item["points"] * known[:, None])
        assert torch.equal(item["free_mask"], item["node_mask"] & ~known)
    assert seen == {(0, 1, 2), (7, 8, 9)}
    source = ProceduralShapes(families=["torus"], count_per_family=2, n_points=8)
    with pytest.raises(ConfigError, match=r"known_points \(8\) must be below the smallest cloud's size \(8\)"):
        PointCloudDataModule(source, known_points=8).setup()
