"""A shape-latent point diffusion model in the design of Luo & Hu (2021, "Diffusion probabilistic models for 3D
point cloud generation"): a PointNet encoder maps a clean cloud to a shape latent ``z``, and a per-point denoiser
moves every point independently given ``(z, t)``. The cloud is then ``N`` i.i.d. draws from a learned 3D density
``p(x | z)``; a prior over ``z`` (:mod:`domains.pointclouds.latent_priors`) turns it into a generative model of shapes.

Why it suits small budgets: a step on ``B`` clouds of ``N`` points trains the per-point denoiser on ``B N``
samples of the 3D density instead of ``B`` samples of the joint ``3N``-dimensional one, and the network is an MLP
on ``3 + dim(z)`` inputs (cost linear in ``N``, no attention).

* Training: the data module's ``shape_context: true`` puts the clean cloud in the context as ``shape``;
  :class:`LatentPointDenoiser` encodes it, ``z = LayerNorm(PointNet(shape))`` (per-shape zero mean and unit
  variance over the ``D`` latent coordinates), and adds ``latent_noise * N(0, I)`` so that the decoder is
  smooth in ``z`` around the training latents (the fixed-variance posterior of a VAE, without its KL term).
* Sampling: a prior over ``z`` is fitted on the encoded training clouds (:mod:`domains.pointclouds.latent_priors`:
  by default one Gaussian per class, ``z | class ~ N(mean_c, Cov_c + latent_noise^2 I)``; or a Gaussian mixture,
  or a small latent diffusion model); :class:`LatentSampling` draws one ``z`` per cloud once, seeded, and hands it
  to every denoiser call as ``context["latent"]``.

Permutation symmetry: the encoder max-pools over points (invariant), the decoder acts on each point alone
(equivariant), so the model is permutation equivariant; padded points (``node_mask`` False) are ignored by the
pooling and get a zero output.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from domains.pointclouds.denoisers import _mask_of
from domains.pointclouds.latent_priors import make_prior
from sciddm.errors import ConfigError
from sciddm.nn import SinusoidalTimeEmbedding

SHAPE_KEY = "shape"  # context: the clean cloud [B, N, 3] (training)
LATENT_KEY = "latent"  # context: shape latents [B, D] (sampling)


class PointNetEncoder(nn.Module):
    """``z = LayerNorm(W max_i MLP(x_i))`` over the real points: [B, N, 3] -> [B, latent_dim] (Qi et al. 2017)."""

    def __init__(self, latent_dim: int = 16, width: int = 128):
        super().__init__()
        self.point = nn.Sequential(nn.Linear(3, width // 2), nn.SiLU(), nn.Linear(width // 2, width), nn.SiLU(),
                                   nn.Linear(width, 2 * width))  # fmt: skip
        self.project = nn.Linear(2 * width, latent_dim)
        self.norm = nn.LayerNorm(latent_dim, elementwise_affine=False)

    def forward(self, points: Tensor, mask: Tensor) -> Tensor:
        features = self.point(points).masked_fill(~mask[..., None], -torch.inf)
        return self.norm(self.project(features.amax(dim=1)))


class ConditionedPointBlock(nn.Module):
    """Residual per-point block: ``h + Linear(SiLU(LayerNorm(h) (1 + scale(c)) + shift(c)))`` (FiLM by ``c``)."""

    def __init__(self, width: int, condition_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.film = nn.Linear(condition_dim, 2 * width)
        self.linear = nn.Linear(width, width)

    def forward(self, hidden: Tensor, condition: Tensor) -> Tensor:
        scale, shift = self.film(condition)[:, None].chunk(2, dim=-1)
        return hidden + self.linear(nn.functional.silu(self.norm(hidden) * (1 + scale) + shift))


class LatentPointDenoiser(nn.Module):
    """Per-point denoiser given a shape latent: ``out_i = f(x_i, t, z)`` for every point ``i`` (see module doc).

    ``z`` comes from ``context["latent"]`` when present (sampling), else from encoding ``context["shape"]``
    (training; plus ``latent_noise`` Gaussian noise in training mode). The condition ``c = [z, emb(t)]`` modulates
    ``depth`` residual blocks of width ``width``.
    """

    def __init__(self, latent_dim: int = 16, width: int = 128, depth: int = 4, time_dim: int = 64,
                 encoder_width: int = 128, latent_noise: float = 0.1, field: str = "points"):  # fmt: skip
        super().__init__()
        if latent_noise < 0:
            raise ConfigError(f"latent_noise must be >= 0, got {latent_noise}")
        self.field, self.latent_dim, self.latent_noise = field, latent_dim, latent_noise
        self.encoder = PointNetEncoder(latent_dim, encoder_width)
        self.time = nn.Sequential(SinusoidalTimeEmbedding(time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim))
        self.embed = nn.Linear(3, width)
        self.blocks = nn.ModuleList(ConditionedPointBlock(width, latent_dim + time_dim) for _ in range(depth))
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 3))

    def encode(self, points: Tensor, mask: Tensor | None = None) -> Tensor:
        """Clean latents ``z`` [B, D] of clouds [B, N, 3] (no training noise)."""
        return self.encoder(points, _mask_of(points, {} if mask is None else {"node_mask": mask}))

    def encode_samplings(self, samplings: Tensor) -> Tensor:
        """One latent per shape from ``K`` independent point samplings of it, ``samplings`` [K, B, N, 3]: the
        encoder's normalisation applied to the mean code, ``LayerNorm(mean_k z_k)`` (the mean of codes on the
        encoder's sphere, put back on it), which divides the sampling noise's variance by up to ``K``."""
        codes = torch.stack([self.encode(sampling) for sampling in samplings])
        return nn.functional.layer_norm(codes.mean(0), (self.latent_dim,), eps=self.encoder.norm.eps)

    def latent(self, context: dict[str, Tensor]) -> Tensor:
        if LATENT_KEY in context:
            return context[LATENT_KEY]
        if SHAPE_KEY not in context:
            raise ConfigError("LatentPointDenoiser needs context['shape'] (train with the data module's "
                              "shape_context: true) or context['latent'] (sample through LatentSampling)")  # fmt: skip
        z = self.encode(context[SHAPE_KEY], context.get("node_mask"))
        return z + self.latent_noise * torch.randn_like(z) if self.training else z

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        points = x_t[self.field]
        mask = _mask_of(points, context)
        condition = torch.cat([self.latent(context), self.time(t)], dim=-1)
        hidden = self.embed(points)
        for block in self.blocks:
            hidden = block(hidden, condition)
        return {self.field: self.out(hidden) * mask[..., None].to(points.dtype)}


class LatentSampling:
    """Network wrapper for sampling a :class:`LatentPointDenoiser` (or a call wrapper around one that exposes it
    as ``.network``): fits the latent prior ``prior`` (:func:`domains.pointclouds.latent_priors.make_prior`, with
    ``prior_options``; extra variance ``latent_noise^2``) on the network's encodings of ``train_points``
    [M, N, 3] (or [K, M, N, 3]: ``K`` samplings of each shape, codes averaged by ``encode_samplings``;
    ``train_labels`` [M] or None), draws one latent per cloud at the first call (labels from
    ``context["label"]``, else the pooled prior; generator seeded by ``seed``) and passes the same latents to
    every call."""

    def __init__(self, network: Callable, train_points: Tensor, train_labels: Tensor | None,
                 train_mask: Tensor | None = None, seed: int = 0, prior: str = "gaussian",
                 prior_options: dict | None = None):  # fmt: skip
        denoiser = network
        while not isinstance(denoiser, LatentPointDenoiser) and hasattr(denoiser, "network"):
            denoiser = denoiser.network  # call wrappers (e.g. the core's NFE counter) expose what they wrap
        if not isinstance(denoiser, LatentPointDenoiser):
            raise ConfigError(f"LatentSampling wraps a LatentPointDenoiser, got {type(network).__name__}")
        self.network, self.field, self.seed = network, denoiser.field, seed
        parameter = next(denoiser.parameters())
        with torch.no_grad():
            if train_points.ndim == 4:  # [K, M, N, 3]: K point samplings of each shape, codes averaged
                latents = denoiser.encode_samplings(train_points.to(parameter)).cpu()
            else:
                latents = denoiser.encode(train_points.to(parameter), None if train_mask is None else train_mask.to(
                    parameter.device)).cpu()  # fmt: skip
        self.prior = make_prior(prior, latents, train_labels, denoiser.latent_noise**2, **(prior_options or {}))
        self.latents: Tensor | None = None

    def __call__(self, inputs: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        points = inputs[self.field]
        if self.latents is None:
            labels = context.get("label", torch.full((len(points),), -1, dtype=torch.long))
            generator = torch.Generator().manual_seed(self.seed)
            self.latents = self.prior.sample(labels, generator).to(points.device)
        if len(self.latents) != len(points):
            raise ConfigError(f"LatentSampling drew {len(self.latents)} latents but is called on {len(points)} "
                              "clouds (classifier-free guidance does not apply: the latent carries the class)")
        return self.network(inputs, t, {**context, LATENT_KEY: self.latents})
