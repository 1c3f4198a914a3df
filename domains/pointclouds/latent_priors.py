"""Priors over the shape latents of :class:`domains.pointclouds.latent.LatentPointDenoiser`, fitted on the encoded
training clouds. Each draws one latent per label (``-1``: the pooled fit over all classes) with ``sample(labels,
generator) -> [B, D]``, and each adds ``extra_variance * I`` (the training noise ``latent_noise^2`` of the
decoder, whose inputs were ``z + latent_noise * eps``) to what it fits.

* ``gaussian`` (:class:`LatentPrior`): one Gaussian per class, ``N(mean_c, Cov_c + s^2 I)``, maximum likelihood.
* ``mixture`` (:class:`MixturePrior`): per class a mixture of ``K`` full-covariance Gaussians fitted by EM
  (Dempster et al. 1977; k-means++ start); with ``K`` at least the class size it is the kernel density estimate
  ``1/n sum_i N(z_i, s^2 I)``: a memoriser of the training latents, the latent-space counterpart of the jitter
  baseline.
* ``diffusion`` (:class:`DiffusionPrior`): a small latent diffusion model (LION's idea, Vahdat et al. 2022, here
  through the core's :class:`sciddm.DiffusionModule`): a class-conditioned MLP velocity network on the linear
  flow, trained on ``z_i + s * eps`` (fresh noise every batch) and sampled with ``dpmpp_2m``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sciddm.errors import ConfigError, choose
from sciddm.fields import GaussianField
from sciddm.lightning.module import DiffusionModule
from sciddm.nn import SinusoidalTimeEmbedding
from sciddm.sampling import Sampler
from sciddm.schedules import LinearFlow

FIELD = "latent"


def class_groups(latents: Tensor, labels: Tensor | None, minimum: int = 2) -> tuple[list[Tensor], int]:
    """The latents of each class, then all of them (the pooled group for label -1), float64; and the class
    count."""
    latents = latents.detach().double()
    labels = torch.zeros(len(latents), dtype=torch.long) if labels is None else labels.long()
    classes = int(labels.max()) + 1
    groups = [latents[labels == k] for k in range(classes)] + [latents]
    if any(len(group) < minimum for group in groups):
        raise ConfigError(f"every class needs at least {minimum} training latents to fit its prior")
    return groups, classes


def group_index(labels: Tensor, classes: int) -> Tensor:
    """Row of each label in :func:`class_groups` (negative labels: the pooled group)."""
    if int(labels.max()) >= classes:
        raise ConfigError(f"label {int(labels.max())} has no fitted latent prior ({classes} classes)")
    return torch.where(labels < 0, classes, labels).long().cpu()


class LatentPrior:
    """One Gaussian per class over shape latents, ``N(mean_c, Cov_c + extra_variance I)``, and the pooled fit
    for label ``-1``. Covariances are the maximum-likelihood ones of the given latents."""

    def __init__(self, latents: Tensor, labels: Tensor | None = None, extra_variance: float = 0.0):
        groups, self.classes = class_groups(latents, labels)
        eye = torch.eye(latents.shape[1], dtype=torch.float64)
        self.means = torch.stack([group.mean(0) for group in groups])
        covariances = torch.stack([torch.cov(group.T, correction=0) + extra_variance * eye for group in groups])
        self.factors = torch.linalg.cholesky(covariances + 1e-9 * eye)

    def sample(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One latent per label [B] (negative: the pooled Gaussian), float32 [B, D]."""
        index = group_index(labels, self.classes)
        noise = torch.randn(len(index), self.means.shape[1], generator=generator, dtype=torch.float64)
        return (self.means[index] + (self.factors[index] @ noise[..., None])[..., 0]).float()


def kmeans_plus_plus(points: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` initial centres (Arthur & Vassilvitskii 2007): the first uniformly, each next one with
    probability proportional to the squared distance to the nearest centre chosen so far."""
    chosen = [int(torch.randint(len(points), (1,), generator=generator))]
    for _ in range(count - 1):
        squared = torch.cdist(points, points[chosen]).square().min(dim=1).values
        chosen.append(int(torch.multinomial(squared / squared.sum(), 1, generator=generator)))
    return points[chosen].clone()


def fit_mixture(points: Tensor, components: int, generator: torch.Generator, iterations: int = 200,
                regularization: float = 1e-6) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """EM for a Gaussian mixture on ``points`` [n, D] (float64): returns weights [K], means [K, D], covariances
    [K, D, D]. E step: responsibilities ``r_ik ∝ w_k N(x_i; m_k, C_k)``; M step: ``w_k = mean_i r_ik``,
    ``m_k = sum_i r_ik x_i / sum_i r_ik``, ``C_k = sum_i r_ik (x_i - m_k)(x_i - m_k)^T / sum_i r_ik +
    regularization I``. Stops when the mean log-likelihood changes by less than 1e-10. With ``K >= n`` every
    point is its own component with zero covariance (the maximum-likelihood limit, up to the regularisation)."""
    count, dim = points.shape
    eye = torch.eye(dim, dtype=torch.float64)
    if components >= count:
        return torch.full((count,), 1.0 / count, dtype=torch.float64), points.clone(), torch.zeros(count, dim, dim,
                                                                                                    dtype=torch.float64)
    means = kmeans_plus_plus(points, components, generator)
    weights = torch.full((components,), 1.0 / components, dtype=torch.float64)
    covariances = torch.cov(points.T, correction=0).expand(components, dim, dim) + regularization * eye
    previous = -torch.inf
    for _ in range(iterations):
        log_density = torch.distributions.MultivariateNormal(means, covariance_matrix=covariances).log_prob(
            points[:, None]) + weights.log()  # [n, K]  # fmt: skip
        likelihood = torch.logsumexp(log_density, dim=1)
        responsibilities = (log_density - likelihood[:, None]).exp()
        mass = responsibilities.sum(0) + 1e-300
        weights = mass / count
        means = responsibilities.T @ points / mass[:, None]
        centred = points[None] - means[:, None]  # [K, n, D]
        covariances = torch.einsum("nk,kni,knj->kij", responsibilities, centred, centred) / mass[:, None, None]
        covariances = covariances + regularization * eye
        if abs(float(likelihood.mean()) - previous) < 1e-10:
            break
        previous = float(likelihood.mean())
    return weights, means, covariances


class MixturePrior:
    """Per class (and pooled) a Gaussian mixture of ``components`` fitted by :func:`fit_mixture`, each
    component's covariance plus ``extra_variance I``; ``seed`` fixes the k-means++ start."""

    def __init__(self, latents: Tensor, labels: Tensor | None = None, extra_variance: float = 0.0,
                 components: int = 4, seed: int = 0):  # fmt: skip
        if components < 1:
            raise ConfigError(f"components must be >= 1, got {components}")
        groups, self.classes = class_groups(latents, labels)
        generator = torch.Generator().manual_seed(seed)
        eye = torch.eye(latents.shape[1], dtype=torch.float64)
        self.mixtures = []
        for group in groups:
            weights, means, covariances = fit_mixture(group, components, generator)
            self.mixtures.append((weights, means, torch.linalg.cholesky(covariances + extra_variance * eye
                                                                        + 1e-9 * eye)))  # fmt: skip

    def sample(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One latent per label [B]: a component by its weight, then a draw from its Gaussian; float32 [B, D]."""
        index = group_index(labels, self.classes)
        rows = []
        for group in index.tolist():
            weights, means, factors = self.mixtures[group]
            k = int(torch.multinomial(weights, 1, generator=generator))
            noise = torch.randn(means.shape[1], generator=generator, dtype=torch.float64)
            rows.append(means[k] + factors[k] @ noise)
        return torch.stack(rows).float()


class LatentVelocityNetwork(nn.Module):
    """``v(z_t, t, c) = MLP([z_t, emb(t), emb(c)])`` over latent vectors; class ``-1`` has its own embedding
    (the pooled prior). The core's network contract: ``forward({"latent": z_t}, t, {"label": c}) -> {"latent": v}``."""

    def __init__(self, latent_dim: int, classes: int, width: int = 128, depth: int = 3, time_dim: int = 32):
        super().__init__()
        self.classes = classes
        self.time = SinusoidalTimeEmbedding(time_dim)
        self.label = nn.Embedding(classes + 1, time_dim)
        layers: list[nn.Module] = [nn.Linear(latent_dim + 2 * time_dim, width), nn.SiLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), nn.SiLU()]
        self.mlp = nn.Sequential(*layers, nn.Linear(width, latent_dim))

    def forward(self, x_t: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        labels = torch.where(context["label"] < 0, self.classes, context["label"])
        features = torch.cat([x_t[FIELD], self.time(t), self.label(labels)], dim=-1)
        return {FIELD: self.mlp(features)}


class DiffusionPrior:
    """A latent diffusion prior (module doc): trains :class:`LatentVelocityNetwork` for ``steps`` AdamW steps on
    batches of ``batch_size`` training latents plus ``sqrt(extra_variance)`` Gaussian noise, with their labels
    (and label ``-1`` with probability ``pooled_rate``, so the pooled prior is learnt too); samples with the EMA
    weights and ``sampler`` (default ``dpmpp_2m``, 50 steps). Seeded: same ``seed``, same prior."""

    def __init__(self, latents: Tensor, labels: Tensor | None = None, extra_variance: float = 0.0,
                 steps: int = 2000, batch_size: int = 64, width: int = 128, depth: int = 3, lr: float = 1e-3,
                 ema_decay: float = 0.995, pooled_rate: float = 0.1, sampler: Sampler | None = None,
                 seed: int = 0):  # fmt: skip
        groups, self.classes = class_groups(latents, labels, minimum=1)
        latents = latents.detach().float()
        labels = torch.zeros(len(latents), dtype=torch.long) if labels is None else labels.long()
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            network = LatentVelocityNetwork(latents.shape[1], self.classes, width, depth)
        self.module = DiffusionModule(network, {FIELD: GaussianField(LinearFlow(), prediction="velocity")},
                                      lr=lr, ema_decay=ema_decay, seed=seed)  # fmt: skip
        self.sampler = sampler or Sampler(solver="dpmpp_2m", steps=50, grid="log_snr")
        self.losses = self._train(latents, labels, extra_variance**0.5, steps, batch_size, pooled_rate, generator)

    def _train(self, latents, labels, noise_scale, steps, batch_size, pooled_rate, generator) -> list[float]:
        optimizer = torch.optim.AdamW(self.module.network.parameters(), lr=self.module.lr)
        losses = []
        with torch.enable_grad():  # LatentSampling may be built inside the core's no-grad sampling
            for _ in range(steps):
                losses.append(self._step(latents, labels, noise_scale, batch_size, pooled_rate, generator, optimizer))
        return losses

    def _step(self, latents, labels, noise_scale, batch_size, pooled_rate, generator, optimizer) -> float:
        pick = torch.randint(len(latents), (batch_size,), generator=generator)
        batch_labels = torch.where(torch.rand(batch_size, generator=generator) < pooled_rate, -1, labels[pick])
        noise = torch.randn(batch_size, latents.shape[1], generator=generator)
        batch = {FIELD: latents[pick] + noise_scale * noise, "label": batch_labels}
        loss, _ = self.module.diffusion_loss(self.module.network, batch, generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        self.module.ema.update_parameters(self.module.network)
        return float(loss.detach())

    def sample(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One latent per label [B] (negative: the pooled prior), float32 [B, D]."""
        index = group_index(labels, self.classes)
        labels = torch.where(index == self.classes, -1, index)
        template = {FIELD: torch.zeros(len(labels), self.module.network.mlp[-1].out_features)}
        samples, _ = self.module.sample(template, {"label": labels}, self.sampler, generator)
        return samples[FIELD].float()


PRIORS = {"gaussian": LatentPrior, "mixture": MixturePrior, "diffusion": DiffusionPrior}


def make_prior(name: str, latents: Tensor, labels: Tensor | None, extra_variance: float, **options):
    """The prior ``name`` (``gaussian``, ``mixture``, ``diffusion``) fitted on ``latents`` [M, D] and ``labels``."""
    return choose(name, PRIORS, "latent prior")(latents, labels, extra_variance, **options)
