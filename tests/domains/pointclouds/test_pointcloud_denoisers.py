"""Denoisers: voxel operators against exact answers, permutation equivariance, padding, conditioning, learning."""

import pytest
import torch

from domains.pointclouds.denoisers import (
    PointTransformerDenoiser,
    PointVoxelDenoiser,
    devoxelize,
    voxel_coordinates,
    voxelize,
)

torch.manual_seed(0)
NETWORKS = [
    lambda classes=0: PointVoxelDenoiser(hidden=16, depth=2, resolution=8, time_dim=16, num_classes=classes),
    lambda classes=0: PointTransformerDenoiser(width=32, depth=2, heads=4, time_dim=16, num_classes=classes),
]


def test_trilinear_devoxelisation_is_exact_for_linear_fields():
    """Trilinear interpolation reproduces f(x, y, z) = 2x - 3y + 0.5z + 1 exactly from its grid values."""
    resolution = 5
    axis = torch.arange(resolution, dtype=torch.float32)
    x, y, z = torch.meshgrid(axis, axis, axis, indexing="ij")
    grid = (2 * x - 3 * y + 0.5 * z + 1)[None, None]
    coords = torch.rand(1, 50, 3) * (resolution - 1)
    expected = 2 * coords[..., 0] - 3 * coords[..., 1] + 0.5 * coords[..., 2] + 1
    torch.testing.assert_close(devoxelize(grid, coords)[..., 0], expected, atol=1e-4, rtol=1e-5)


def test_voxelisation_averages_real_points_per_voxel():
    coords = torch.tensor([[[0.1, 0.0, 0.2], [0.3, 0.1, -0.1], [3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]]).clamp(min=0)
    features = torch.tensor([[[2.0], [4.0], [10.0], [99.0]]])
    mask = torch.tensor([[True, True, True, False]])
    grid = voxelize(features, coords, mask, resolution=4)
    assert grid[0, 0, 0, 0, 0] == 3.0 and grid[0, 0, 3, 2, 1] == 10.0  # the padded 99 is ignored
    assert grid.sum() == 13.0


def test_voxel_coordinates_span_the_grid():
    points = torch.tensor([[[1.0, 1.0, 1.0], [3.0, 1.0, 1.0], [50.0, 50.0, 50.0]]])
    coords = voxel_coordinates(points, torch.tensor([[True, True, False]]), resolution=9)
    torch.testing.assert_close(coords[0, :2], torch.tensor([[0.0, 4.0, 4.0], [8.0, 4.0, 4.0]]))


@pytest.mark.parametrize("make", NETWORKS)
def test_permutation_equivariance_with_padding(make):
    network = make(3).eval()
    points, t = torch.randn(2, 40, 3), torch.rand(2)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 30:] = False
    context = {"node_mask": mask, "label": torch.tensor([2, -1])}
    output = network({"points": points}, t, context)["points"]
    permutation = torch.randperm(40)
    permuted = network({"points": points[:, permutation]}, t, {**context, "node_mask": mask[:, permutation]})["points"]
    torch.testing.assert_close(permuted, output[:, permutation], atol=1e-5, rtol=1e-4)
    assert (output[1, 30:] == 0).all()


@pytest.mark.parametrize("make", NETWORKS)
def test_padding_values_do_not_leak(make):
    network = make().eval()
    points, t = torch.randn(1, 20, 3), torch.rand(1)
    padded = torch.cat([points, 1e3 * torch.randn(1, 7, 3)], dim=1)
    mask = torch.cat([torch.ones(1, 20), torch.zeros(1, 7)], dim=1).bool()
    alone = network({"points": points}, t, {})["points"]
    with_padding = network({"points": padded}, t, {"node_mask": mask})["points"]
    torch.testing.assert_close(with_padding[:, :20], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("make", NETWORKS)
def test_time_and_label_change_the_output(make):
    network = make(2).eval()
    points = torch.randn(1, 16, 3)
    out = lambda t, label: network({"points": points}, torch.tensor([t]), {"label": torch.tensor([label])})["points"]  # noqa: E731
    assert not torch.allclose(out(0.1, 0), out(0.9, 0))
    assert not torch.allclose(out(0.5, 0), out(0.5, 1))
    torch.testing.assert_close(out(0.5, -1), network({"points": points}, torch.tensor([0.5]), {})["points"])


@pytest.mark.parametrize("make", NETWORKS)
def test_networks_learn_to_denoise_a_fixed_batch(make):
    """Regressing the noise of one fixed noisy batch: 30 Adam steps cut the error by more than half."""
    torch.manual_seed(1)
    network = make()
    clean, noise, t = torch.randn(2, 16, 3) * 0.5, torch.randn(2, 16, 3), torch.full((2,), 0.3)
    noisy = {"points": 0.8 * clean + 0.6 * noise}
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = (network(noisy, t, {})["points"] - noise).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
