"""Denoisers for the ``points`` field: a point-voxel network and a transformer over points.

Both follow the core contract ``forward(x_t, t, context) -> {field: prediction}``: ``x_t[field]`` is the noisy
cloud [B, N, 3], ``t`` [B] the diffusion time in [0, 1], ``context`` may hold ``node_mask`` [B, N] (True =
real point; padded points get a zero output and never influence real ones) and ``label`` [B] (class index;
a negative label means "no class", the null token for classifier-free guidance). The raw output has the
field's shape; what it means (eps, x0, velocity) is the core's choice. Both networks are permutation
equivariant: permuting the points (and the mask) permutes the output the same way.

* :class:`PointVoxelDenoiser` follows PVCNN (Liu et al. 2019) as used by PVD (Zhou et al. 2021): each block
  adds a voxel branch (average the point features into an ``R^3`` grid over the cloud's centred bounding
  ball, two 3x3x3 convolutions, trilinear interpolation back to the points) to a per-point MLP branch. Pure
  PyTorch (``scatter_add`` and ``grid_sample``), no compiled extension.
* :class:`PointTransformerDenoiser`: a pre-norm transformer encoder over the points as tokens, without
  positional encodings (hence permutation equivariant), padding excluded by the attention key mask.
* :class:`KnownPointsDenoiser`: wraps either for conditional completion (the partial input as a network input).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sciddm.nn import SinusoidalTimeEmbedding


class ConditionEmbedding(nn.Module):
    """Time embedding (the core's sinusoid + MLP, projected to ``out_dim``) plus, with ``num_classes > 0``, a
    learned class embedding; index ``num_classes`` is the null class used for negative or absent labels."""

    def __init__(self, time_dim: int, out_dim: int, num_classes: int = 0):
        super().__init__()
        self.num_classes = num_classes
        self.time = nn.Sequential(SinusoidalTimeEmbedding(time_dim), nn.SiLU(), nn.Linear(time_dim, out_dim))
        self.classes = nn.Embedding(num_classes + 1, out_dim) if num_classes > 0 else None

    def forward(self, t: Tensor, label: Tensor | None) -> Tensor:
        embedding = self.time(t)
        if self.classes is None:
            return embedding
        if label is None:
            label = torch.full_like(t, -1, dtype=torch.long)
        return embedding + self.classes(torch.where(label < 0, self.num_classes, label))


def _mask_of(points: Tensor, context: dict[str, Tensor]) -> Tensor:
    mask = context.get("node_mask")
    return torch.ones(points.shape[:2], dtype=torch.bool, device=points.device) if mask is None else mask.bool()


def voxel_coordinates(points: Tensor, mask: Tensor, resolution: int) -> Tensor:
    """Continuous grid coordinates in [0, R - 1]: centre each cloud on the mean of its real points and map the
    ball of its largest radius onto the grid cube (PVCNN's normalised voxelisation)."""
    weight = mask[..., None].to(points.dtype)
    centre = (points * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp_min(1)
    centred = (points - centre) * weight
    radius = centred.norm(dim=-1).amax(dim=1).clamp_min(1e-8)[:, None, None]
    return ((centred / (2 * radius) + 0.5) * (resolution - 1)).clamp(0, resolution - 1)


def voxelize(features: Tensor, coords: Tensor, mask: Tensor, resolution: int) -> Tensor:
    """Average features [B, N, C] of the real points into the voxel of their rounded coordinates: [B, C, R, R, R]."""
    batch, _, channels = features.shape
    index = coords.round().long()
    flat = (index[..., 0] * resolution + index[..., 1]) * resolution + index[..., 2]
    weight = mask.to(features.dtype)
    sums = features.new_zeros(batch, resolution**3, channels).scatter_add(
        1, flat[..., None].expand(-1, -1, channels), features * weight[..., None]
    )
    counts = features.new_zeros(batch, resolution**3).scatter_add(1, flat, weight)
    grid = sums / counts.clamp_min(1)[..., None]
    return grid.transpose(1, 2).reshape(batch, channels, resolution, resolution, resolution)


def devoxelize(grid: Tensor, coords: Tensor) -> Tensor:
    """Trilinear interpolation of ``grid`` [B, C, R, R, R] (axes x, y, z) at ``coords`` [B, N, 3]: [B, N, C]."""
    resolution = grid.shape[-1]
    unit = coords / (resolution - 1) * 2 - 1  # grid_sample wants (W, H, D) = (z, y, x) order in [-1, 1]
    sampled = F.grid_sample(grid, unit.flip(-1)[:, :, None, None, :], mode="bilinear", align_corners=True)
    return sampled[:, :, :, 0, 0].transpose(1, 2)


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(8, channels), channels)


class PointVoxelBlock(nn.Module):
    """One PVConv block: voxel branch + point branch + condition, summed; outputs [B, N, C] (zero on padding)."""

    def __init__(self, channels: int, resolution: int, condition_dim: int):
        super().__init__()
        self.resolution = resolution
        self.voxel = nn.Sequential(
            nn.Conv3d(channels, channels, 3, padding=1), _group_norm(channels), nn.SiLU(),
            nn.Conv3d(channels, channels, 3, padding=1), _group_norm(channels), nn.SiLU(),
        )  # fmt: skip
        self.point = nn.Sequential(nn.LayerNorm(channels), nn.Linear(channels, channels), nn.SiLU())
        self.condition = nn.Linear(condition_dim, channels)

    def forward(self, features: Tensor, coords: Tensor, mask: Tensor, condition: Tensor) -> Tensor:
        voxels = self.voxel(voxelize(features, coords, mask, self.resolution))
        fused = devoxelize(voxels, coords) + self.point(features) + self.condition(condition)[:, None]
        return fused * mask[..., None]


class PointVoxelDenoiser(nn.Module):
    """PVCNN-style denoiser: input projection, ``depth`` residual point-voxel blocks at ``resolution^3`` voxels,
    and a per-point head that also sees the masked mean of the point features (global shape context)."""

    def __init__(self, hidden: int = 64, depth: int = 3, resolution: int = 16, time_dim: int = 64,
                 num_classes: int = 0, field: str = "points"):  # fmt: skip
        super().__init__()
        self.field, self.resolution = field, resolution
        self.condition = ConditionEmbedding(time_dim, hidden, num_classes)
        self.embed = nn.Linear(3, hidden)
        self.blocks = nn.ModuleList(PointVoxelBlock(hidden, resolution, hidden) for _ in range(depth))
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, 3))

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        points = x_t[self.field]
        mask = _mask_of(points, context)
        weight = mask[..., None].to(points.dtype)
        condition = self.condition(t, context.get("label"))
        coords = voxel_coordinates(points, mask, self.resolution)
        features = self.embed(points) * weight
        for block in self.blocks:
            features = features + block(features, coords, mask, condition)
        pooled = features.sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp_min(1)
        output = self.head(torch.cat([features, pooled.expand_as(features)], dim=-1))
        return {self.field: output * weight}


class PointTransformerDenoiser(nn.Module):
    """Transformer over points: tokens ``Linear(x_i) + condition``, ``depth`` pre-norm encoder layers of
    ``heads`` heads and width ``width`` (MLP ``4 width``), a final LayerNorm and a linear map back to 3D."""

    def __init__(self, width: int = 128, depth: int = 4, heads: int = 4, time_dim: int = 64, num_classes: int = 0,
                 field: str = "points"):  # fmt: skip
        super().__init__()
        self.field = field
        self.condition = ConditionEmbedding(time_dim, width, num_classes)
        self.embed = nn.Linear(3, width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 3)

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        points = x_t[self.field]
        mask = _mask_of(points, context)
        tokens = self.embed(points) + self.condition(t, context.get("label"))[:, None]
        hidden = self.encoder(tokens, src_key_padding_mask=~mask)
        return {self.field: self.out(self.norm(hidden)) * mask[..., None].to(points.dtype)}


class KnownPointsDenoiser(nn.Module):
    """Conditional completion (PVD's setting, Zhou et al. 2021): before the wrapped ``network`` sees the noisy
    cloud, the known slots are set to their clean values, ``x <- M * observed + (1 - M) * x_t`` with ``M`` =
    ``context["known_mask"]`` [B, N, 1] and ``observed`` = ``context["observed"]`` [B, N, 3]; without those keys
    it is the wrapped network unchanged. Train with the data module's ``known_points`` and the field's loss
    restricted to the free points (``mask_key: free_mask``). The input must be the noisy cloud itself, so use it
    with the ``eps``, ``x0``, ``v`` or ``velocity`` predictions, not ``edm`` (which rescales the input)."""

    def __init__(self, network: nn.Module, field: str = "points"):
        super().__init__()
        self.network, self.field = network, field

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        if "known_mask" not in context:
            return self.network(x_t, t, context)
        known = context["known_mask"].to(x_t[self.field].dtype)
        inputs = {**x_t, self.field: known * context["observed"] + (1 - known) * x_t[self.field]}
        return self.network(inputs, t, context)
