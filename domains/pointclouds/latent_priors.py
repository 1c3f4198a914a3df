"""Priors over the shape latents of :class:`domains.pointclouds.latent.LatentPointDenoiser`, fitted on the encoded
training clouds. Each draws one latent per label (``-1``: the pooled fit over all classes) with ``sample(labels,
generator) -> [B, D]``, and each adds ``extra_variance * I`` (the training noise ``latent_noise^2`` of the
decoder, whose inputs were ``z + latent_noise * eps``) to what it fits.

* ``gaussian`` (:class:`LatentPrior`): one Gaussian per class, ``N(mean_c, Cov_c + s^2 I)``, maximum likelihood.
* ``mixture`` (:class:`MixturePrior`): per class a mixture of ``K`` full or diagonal Gaussians fitted by EM
  (Dempster et al. 1977; k-means++ start); with ``K`` at least the class size it is the kernel density estimate
  ``1/n sum_i N(z_i, s^2 I)``: a memoriser of the training latents, the latent-space counterpart of the jitter
  baseline. ``components: auto`` picks ``K`` per class by ``folds``-fold held-out log-likelihood.
* ``kernel`` (:class:`KernelPrior`): per class the kernel density ``1/n sum_i N(z_i, h^2 S + s^2 I)`` with ``S = I``
  (``shape: isotropic``) or the class covariance (``shape: covariance``), the bandwidth ``h`` chosen by
  leave-one-out log-likelihood of the training latents (``bandwidth: auto``) or given.
* ``diffusion`` (:class:`DiffusionPrior`): a small latent diffusion model (LION's idea, Vahdat et al. 2022, here
  through the core's :class:`sciddm.DiffusionModule`): a class-conditioned MLP velocity network on the linear
  flow, trained on ``z_i + s * eps`` (fresh noise every batch) and sampled with ``dpmpp_2m``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

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

    def log_prob(self, latents: Tensor, labels: Tensor) -> Tensor:
        """``log p(z | label)`` of each latent [B, D] (negative labels: the pooled Gaussian), float64 [B]."""
        index = group_index(labels, self.classes)
        return torch.distributions.MultivariateNormal(self.means[index], scale_tril=self.factors[index]).log_prob(
            latents.double())  # fmt: skip


class GaussianMixture(NamedTuple):
    """``sum_k w_k N(m_k, L_k L_k^T)``: weights [K], means [K, D] and Cholesky factors [K, D, D], float64."""

    weights: Tensor
    means: Tensor
    factors: Tensor

    @classmethod
    def of(cls, weights: Tensor, means: Tensor, covariances: Tensor) -> GaussianMixture:
        """The mixture with these covariances (a ``1e-9 I`` jitter keeps singular ones factorisable)."""
        eye = torch.eye(means.shape[1], dtype=torch.float64)
        return cls(weights, means, torch.linalg.cholesky(covariances + 1e-9 * eye))

    def log_prob(self, points: Tensor) -> Tensor:
        """``log sum_k w_k N(x; m_k, C_k)`` of each row of ``points`` [n, D], float64 [n]."""
        components = torch.distributions.MultivariateNormal(self.means, scale_tril=self.factors)
        return torch.logsumexp(components.log_prob(points.double()[:, None]) + self.weights.log(), dim=1)

    def draw(self, generator: torch.Generator | None = None) -> Tensor:
        """One draw: a component by its weight, then ``m_k + L_k eps``, float64 [D]."""
        k = int(torch.multinomial(self.weights, 1, generator=generator))
        noise = torch.randn(self.means.shape[1], generator=generator, dtype=torch.float64)
        return self.means[k] + self.factors[k] @ noise


class MixtureFamilyPrior:
    """Shared sampling and likelihood of the priors that keep one :class:`GaussianMixture` per class and a pooled
    one (``self.mixtures``, rows as in :func:`class_groups`)."""

    classes: int
    mixtures: list[GaussianMixture]

    def sample(self, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One latent per label [B] (negative: the pooled mixture), float32 [B, D]."""
        return torch.stack([self.mixtures[group].draw(generator) for group in
                            group_index(labels, self.classes).tolist()]).float()  # fmt: skip

    def log_prob(self, latents: Tensor, labels: Tensor) -> Tensor:
        """``log p(z | label)`` of each latent [B, D] (negative labels: the pooled mixture), float64 [B]."""
        index = group_index(labels, self.classes)
        result = torch.empty(len(latents), dtype=torch.float64)
        for group in index.unique().tolist():
            result[index == group] = self.mixtures[group].log_prob(latents[index == group])
        return result


def held_out_log_likelihood(fit: Callable[[Tensor], GaussianMixture], points: Tensor, folds: int,
                            generator: torch.Generator) -> float:  # fmt: skip
    """Mean held-out ``log p(x)`` over ``points`` [n, D] by ``folds``-fold cross-validation: a seeded permutation
    split into ``min(folds, n)`` near-equal parts, each scored by the density ``fit`` returns on the other parts."""
    order = torch.randperm(len(points), generator=generator)
    total = 0.0
    for part in order.tensor_split(min(folds, len(points))):
        kept = torch.ones(len(points), dtype=torch.bool)
        kept[part] = False
        total += float(fit(points[kept]).log_prob(points[part]).sum())
    return total / len(points)


def kmeans_plus_plus(points: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """``count`` initial centres (Arthur & Vassilvitskii 2007): the first uniformly, each next one with
    probability proportional to the squared distance to the nearest centre chosen so far."""
    chosen = [int(torch.randint(len(points), (1,), generator=generator))]
    for _ in range(count - 1):
        squared = torch.cdist(points, points[chosen]).square().min(dim=1).values
        chosen.append(int(torch.multinomial(squared / squared.sum(), 1, generator=generator)))
    return points[chosen].clone()


def fit_mixture(points: Tensor, components: int, generator: torch.Generator, iterations: int = 200,
                regularization: float = 1e-6, diagonal: bool = False) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """EM for a Gaussian mixture on ``points`` [n, D] (float64): returns weights [K], means [K, D], covariances
    [K, D, D]. E step: responsibilities ``r_ik ∝ w_k N(x_i; m_k, C_k)``; M step: ``w_k = mean_i r_ik``,
    ``m_k = sum_i r_ik x_i / sum_i r_ik``, ``C_k = sum_i r_ik (x_i - m_k)(x_i - m_k)^T / sum_i r_ik +
    regularization I`` (``diagonal``: only its diagonal, the M step of diagonal-covariance components). Stops when
    the mean log-likelihood changes by less than 1e-10. With ``K >= n`` every point is its own component with
    zero covariance (the maximum-likelihood limit, up to the regularisation)."""
    count, dim = points.shape
    eye = torch.eye(dim, dtype=torch.float64)
    if components >= count:
        return torch.full((count,), 1.0 / count, dtype=torch.float64), points.clone(), torch.zeros(count, dim, dim,
                                                                                                    dtype=torch.float64)
    means = kmeans_plus_plus(points, components, generator)
    weights = torch.full((components,), 1.0 / components, dtype=torch.float64)
    keep = (lambda c: torch.diag_embed(torch.diagonal(c, dim1=-2, dim2=-1))) if diagonal else (lambda c: c)
    covariances = keep(torch.cov(points.T, correction=0)).expand(components, dim, dim) + regularization * eye
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
        covariances = keep(covariances) + regularization * eye
        if abs(float(likelihood.mean()) - previous) < 1e-10:
            break
        previous = float(likelihood.mean())
    return weights, means, covariances


COMPONENT_CANDIDATES = (1, 2, 3, 4, 6, 8)
BANDWIDTH_CANDIDATES = tuple(float(h) for h in torch.logspace(-2, 0.6, 27, dtype=torch.float64))  # 0.01 .. 3.98


class MixturePrior(MixtureFamilyPrior):
    """Per class (and pooled) a Gaussian mixture of ``components`` fitted by :func:`fit_mixture` (``covariance``:
    ``full`` or ``diagonal`` components), each component's covariance plus ``extra_variance I``; ``seed`` fixes
    the k-means++ start. ``components: auto`` takes, per class, the candidate ``K`` (1, or below the size of a
    training fold) with the highest ``folds``-fold held-out log-likelihood (:func:`held_out_log_likelihood`, the
    extra variance included); ``self.components`` and ``self.scores`` record the choice and the scores."""

    def __init__(self, latents: Tensor, labels: Tensor | None = None, extra_variance: float = 0.0,
                 components: int | str = 4, covariance: str = "full", seed: int = 0,
                 candidates: Sequence[int] = COMPONENT_CANDIDATES, folds: int = 5):  # fmt: skip
        if components != "auto" and (not isinstance(components, int) or components < 1):
            raise ConfigError(f"components must be a positive integer or 'auto', got {components!r}")
        self.diagonal = choose(covariance, {"full": False, "diagonal": True}, "mixture covariance")
        self.extra_variance = extra_variance
        groups, self.classes = class_groups(latents, labels)
        generator = torch.Generator().manual_seed(seed)
        self.scores: list[dict[int, float]] = []
        self.components: list[int] = []
        for group in groups:
            if components == "auto":
                fold_size = len(group) - -(-len(group) // folds)  # the smallest training part
                scores = {k: held_out_log_likelihood(partial_fit(self.fit, k, seed), group, folds,
                                                     torch.Generator().manual_seed(seed))
                          for k in candidates if k == 1 or k < fold_size}  # fmt: skip
                self.scores.append(scores)
                self.components.append(max(scores, key=scores.__getitem__))
            else:
                self.components.append(components)
        self.mixtures = [self.fit(group, k, generator) for group, k in zip(groups, self.components, strict=True)]

    def fit(self, points: Tensor, components: int, generator: torch.Generator) -> GaussianMixture:
        """EM on ``points`` with this prior's covariance type, plus the extra variance."""
        weights, means, covariances = fit_mixture(points, components, generator, diagonal=self.diagonal)
        eye = torch.eye(points.shape[1], dtype=torch.float64)
        return GaussianMixture.of(weights, means, covariances + self.extra_variance * eye)


def partial_fit(fit: Callable, components: int, seed: int) -> Callable[[Tensor], GaussianMixture]:
    """``points -> fit(points, components, fresh generator seeded by seed)`` (the same start for every fold)."""
    return lambda points: fit(points, components, torch.Generator().manual_seed(seed))


def kernel_covariance(points: Tensor, bandwidth: float, extra_variance: float, shape: str) -> Tensor:
    """The kernel's covariance ``h^2 S + s^2 I``: ``S = I`` (``isotropic``) or the maximum-likelihood covariance of
    ``points`` (``covariance``, the kernel shaped like the data, as in Scott's rule)."""
    eye = torch.eye(points.shape[1], dtype=torch.float64)
    spread = choose(shape, {"isotropic": lambda: eye, "covariance": lambda: torch.cov(points.T, correction=0)},
                    "kernel shape")()  # fmt: skip
    return bandwidth**2 * spread + extra_variance * eye


def leave_one_out_log_likelihood(points: Tensor, covariance: Tensor) -> float:
    """``mean_i log( 1/(n-1) sum_{j != i} N(z_i; z_j, C) )``: each training point scored by the kernel density of
    the others (the cross-validated likelihood of Duin 1976 / Habbema et al. 1974)."""
    points = points.double()
    kernel = torch.distributions.MultivariateNormal(torch.zeros(points.shape[1], dtype=torch.float64),
                                                    covariance_matrix=covariance)  # fmt: skip
    log_kernel = kernel.log_prob(points[:, None] - points[None])  # [n, n]
    log_kernel.fill_diagonal_(-torch.inf)
    return float((torch.logsumexp(log_kernel, dim=1) - math.log(len(points) - 1)).mean())


class KernelPrior(MixtureFamilyPrior):
    """Per class (and pooled) the kernel density ``1/n sum_i N(z_i, h^2 S + s^2 I)`` of the training latents
    (:func:`kernel_covariance`; ``s^2 = extra_variance``). ``bandwidth: auto`` takes, per class, the candidate
    ``h`` with the highest :func:`leave_one_out_log_likelihood`; ``self.bandwidths`` and ``self.scores`` record
    the choice and the scores."""

    def __init__(self, latents: Tensor, labels: Tensor | None = None, extra_variance: float = 0.0,
                 bandwidth: float | str = "auto", shape: str = "isotropic",
                 candidates: Sequence[float] = BANDWIDTH_CANDIDATES):  # fmt: skip
        if bandwidth != "auto" and (isinstance(bandwidth, str) or bandwidth < 0):
            raise ConfigError(f"bandwidth must be a non-negative number or 'auto', got {bandwidth!r}")
        groups, self.classes = class_groups(latents, labels)
        self.bandwidths: list[float] = []
        self.scores: list[dict[float, float]] = []
        self.mixtures = []
        for group in groups:
            if bandwidth == "auto":
                scores = {h: leave_one_out_log_likelihood(group, kernel_covariance(group, h, extra_variance, shape))
                          for h in candidates}  # fmt: skip
                self.scores.append(scores)
                self.bandwidths.append(max(scores, key=scores.__getitem__))
            else:
                self.bandwidths.append(float(bandwidth))
            covariance = kernel_covariance(group, self.bandwidths[-1], extra_variance, shape)
            self.mixtures.append(GaussianMixture.of(torch.full((len(group),), 1.0 / len(group), dtype=torch.float64),
                                                    group, covariance.expand(len(group), -1, -1)))  # fmt: skip


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


PRIORS = {"gaussian": LatentPrior, "mixture": MixturePrior, "kernel": KernelPrior, "diffusion": DiffusionPrior}


def make_prior(name: str, latents: Tensor, labels: Tensor | None, extra_variance: float, **options):
    """The prior ``name`` (``gaussian``, ``mixture``, ``kernel``, ``diffusion``) fitted on ``latents`` [M, D] and
    ``labels``."""
    return choose(name, PRIORS, "latent prior")(latents, labels, extra_variance, **options)
