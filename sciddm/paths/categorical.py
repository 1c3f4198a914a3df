r"""Categorical paths in continuous time: keep-probability schedules, priors, posteriors and the NELBO.

A token with clean value :math:`x_0` is corrupted as

.. math:: q(x_t\mid x_0) = a(t)\,e_{x_0} + (1-a(t))\,\pi,

where :math:`a(t)` is the keep probability (:math:`a(0)=1`, :math:`a(1)=0`, decreasing) and :math:`\pi` the prior
over the ``M`` states: ``uniform`` (:math:`\pi=1/K`, M = K), ``marginal`` (the data's class frequencies, M = K; as
in EQGAT-diff and MiDi) or ``mask`` (absorbing: an extra mask state appended as the last index K, M = K + 1,
:math:`\pi=e_K`). The transition from ``s`` to ``t > s`` has the same form with :math:`a_{t|s}=a_t/a_s`.

**Posterior.** With :math:`N(j, x_0) = q(x_t\mid x_s{=}j)\,q(x_s{=}j\mid x_0)`
:math:`= (a_{t|s}[x_t{=}j] + (1-a_{t|s})\pi_{x_t})(a_s[j{=}x_0] + (1-a_s)\pi_j)` and
:math:`D(x_0) = q(x_t\mid x_0) = a_t[x_t{=}x_0] + (1-a_t)\pi_{x_t}`, Bayes gives
:math:`q(x_s{=}j\mid x_t,x_0) = N(j,x_0)/D(x_0)`. Under a predicted distribution :math:`p(x_0)` the reverse
transition (D3PM's x0-parametrisation, Austin et al. 2021) is :math:`\sum_{x_0} p(x_0)\,q(x_s\mid x_t,x_0)`; with
:math:`w = p/D` (zero where :math:`D=0`, i.e. values of :math:`x_0` that cannot have produced :math:`x_t`) it is
in closed form

.. math:: (a_{t|s}[x_t{=}j] + (1-a_{t|s})\pi_{x_t})\,(a_s w_j + (1-a_s)\pi_j\textstyle\sum_k w_k),

normalised over ``j`` (the normalisation renormalises ``p`` on the values compatible with :math:`x_t`).
A one-hot ``p`` gives the exact posterior.

**Continuous-time NELBO per token.** The forward process is a CTMC with rates
:math:`R_t(x\to y) = \beta_t\pi_y` (:math:`y\ne x`), :math:`\beta_t = -a'_t/a_t`. The reverse of the process
conditioned on :math:`x_0` has rates :math:`\tilde R(x\to y) = \beta_t\pi_x\,r(y)`,
:math:`r(y) = q(y\mid x_0)/q(x\mid x_0)`; the model's are :math:`\hat R(x\to y) = \beta_t\pi_x\,\hat r(y)` with
:math:`\hat r(y) = \sum_{x_0}p(x_0)q(y\mid x_0)/q(x\mid x_0) = a_t w_y + (1-a_t)\pi_y\sum_k w_k`
(:math:`w` as above, at :math:`x=x_t`). The KL divergence between the two path measures (Campbell et al. 2022;
the "diffusion-weighted denoising score entropy" of SEDD, Lou et al. 2024; DUO, Sahoo et al. 2025, for the
uniform prior) gives

.. math:: -\log p_\theta(x_0) \le \int_{t_{\min}}^1 \mathbb E_{q(x_t\mid x_0)}\Big[-\frac{a'_t}{a_t}\pi_{x_t}
          \sum_{y\ne x_t}\big(\hat r(y) - r(y) + r(y)\log\tfrac{r(y)}{\hat r(y)}\big)\Big]dt
          + \mathbb E_{q(x_{t_{\min}}\mid x_0)}[-\log p_\theta(x_0\mid x_{t_{\min}})]
          + \mathrm{KL}(q(x_1\mid x_0)\,\|\,\pi),

the last term being zero because :math:`a(1)=0`. The integrand is the continuous-time limit of the discrete
ELBO's :math:`\mathrm{KL}(q(x_s\mid x_t,x_0)\,\|\,p_\theta(x_s\mid x_t))` per unit time (verified numerically in
the tests). For the mask prior only masked tokens jump (:math:`\pi_{x_t}=0` otherwise) and, with carry-over of
unmasked tokens, it reduces to MDLM's weighted cross-entropy (Sahoo et al. 2024)
:math:`-\frac{a'_t}{1-a_t}[x_t{=}\mathrm{m}]\,(-\log p_\theta(x_0\mid x_t))`. With the exact per-token
posteriors the reverse CTMC is exact and the bound is tight (tested on a toy distribution). Numerics: the
uniform/marginal integrand is evaluated in float64 and set to zero where :math:`a<10^{-6}` (it vanishes like
:math:`O(a)` there, while its terms cancel to :math:`O(a^2)`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from sciddm.errors import ConfigError, choose

Prior = Literal["uniform", "mask", "marginal"]
# Below this keep probability the uniform/marginal NELBO integrand (which vanishes like O(a)) is set to zero: its
# terms cancel to O(a^2) there, and float rounding divided by a would dominate.
A_FLOOR = 1e-6


class KeepSchedule(ABC):
    r"""Keep probability :math:`a(t)` with :math:`a(0)=1`, :math:`a(1)=0`, and its derivative :math:`a'(t)`.

    ``eps`` is ``t_min``: training times are drawn from ``[eps, 1]`` (the NELBO weights grow like ``1/t`` near
    0) and the likelihood adds the reconstruction term at ``eps``.
    """

    def __init__(self, eps: float = 1e-3):
        if not 0.0 <= eps < 1.0:
            raise ConfigError(f"schedule eps must lie in [0, 1), got {eps}")
        self.eps = eps

    @property
    def t_min(self) -> float:
        return self.eps

    t_max: float = 1.0

    @abstractmethod
    def alpha(self, t: Tensor) -> Tensor: ...

    @abstractmethod
    def alpha_dot(self, t: Tensor) -> Tensor: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in vars(self).items())})"


class LogLinear(KeepSchedule):
    r""":math:`a(t) = 1 - t` (MDLM's "log-linear" noise :math:`\sigma(t)=-\log(1-t)`); :math:`a' = -1`."""

    def alpha(self, t: Tensor) -> Tensor:
        return 1.0 - t

    def alpha_dot(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)


class Cosine(KeepSchedule):
    r""":math:`a(t) = \cos(\pi t/2)`, :math:`a'(t) = -\tfrac\pi2\sin(\pi t/2)` (keeps more tokens early on)."""

    def alpha(self, t: Tensor) -> Tensor:
        return torch.cos(0.5 * math.pi * t)

    def alpha_dot(self, t: Tensor) -> Tensor:
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t)


class Polynomial(KeepSchedule):
    r""":math:`a(t) = 1 - t^p`, :math:`a'(t) = -p\,t^{p-1}` (``power`` p > 0; p = 1 is :class:`LogLinear`)."""

    def __init__(self, power: float = 2.0, eps: float = 1e-3):
        super().__init__(eps)
        if power <= 0:
            raise ConfigError(f"polynomial schedule power must be > 0, got {power}")
        self.power = power

    def alpha(self, t: Tensor) -> Tensor:
        return 1.0 - t**self.power

    def alpha_dot(self, t: Tensor) -> Tensor:
        return -self.power * t ** (self.power - 1.0)


KEEP_SCHEDULES: dict[str, type[KeepSchedule]] = {"log_linear": LogLinear, "cosine": Cosine, "polynomial": Polynomial}


def prior_vector(kind: str, num_classes: int, marginal: Tensor | list[float] | None = None) -> Tensor:
    """The prior :math:`\\pi` over the M states (float64): uniform, mask (state K) or the given marginal."""
    choose(kind, dict.fromkeys(("uniform", "mask", "marginal")), "categorical prior")
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    if kind == "uniform":
        return torch.full((num_classes,), 1.0 / num_classes, dtype=torch.float64)
    if kind == "mask":
        return F.one_hot(torch.tensor(num_classes), num_classes + 1).double()
    if marginal is None:
        raise ConfigError("the marginal prior needs the class frequencies (marginal=[...])")
    freq = torch.as_tensor(marginal, dtype=torch.float64).flatten()
    if len(freq) != num_classes or (freq < 0).any() or not torch.isfinite(freq).all() or freq.sum() <= 0:
        raise ConfigError(f"marginal must be {num_classes} non-negative finite numbers with a positive sum, "
                          f"got {freq.tolist()}")
    return freq / freq.sum()


def _expand(value: Tensor, like: Tensor) -> Tensor:
    """Per-sample ``value`` [B] (or a scalar) reshaped to broadcast against ``like`` [B, ...]."""
    return value.reshape(value.shape + (1,) * (like.ndim - value.ndim))


class CategoricalPath:
    """The corruption :math:`q(x_t|x_0)`, its posteriors and NELBO for one prior and keep schedule.

    Tensors of states are integer indices ``[...]``; distributions are ``[..., M]`` (or ``[..., K]`` for
    predictions over the data classes, which are padded with zeros for the mask state). Times are per sample
    (``[B]``, broadcast over the trailing token dimensions) or Python floats.
    """

    def __init__(self, schedule: KeepSchedule, num_classes: int, prior: Prior = "mask",
                 marginal: Tensor | list[float] | None = None):
        self.schedule = schedule
        self.num_classes = num_classes
        self.kind = prior
        self.pi = prior_vector(prior, num_classes, marginal)

    @property
    def num_states(self) -> int:
        """M: the K data classes plus the mask state for the absorbing prior."""
        return len(self.pi)

    @property
    def mask_index(self) -> int | None:
        return self.num_classes if self.kind == "mask" else None

    def is_clean(self, t: float) -> bool:
        """Whether :math:`x_t` is the data itself (:math:`a(t) = 1`): a step onto ``t`` is the final one."""
        return float(self.schedule.alpha(torch.tensor(t, dtype=torch.float64))) >= 1.0

    def _pi(self, like: Tensor) -> Tensor:
        return self.pi.to(dtype=like.dtype if like.is_floating_point() else torch.float32, device=like.device)

    def keep(self, t: Tensor | float, like: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
        """:math:`a(t)` (computed in float64, returned as ``dtype``) shaped to broadcast against ``like``."""
        t = torch.as_tensor(t, dtype=torch.float64, device=like.device)
        return _expand(self.schedule.alpha(t), like).to(dtype)

    def to_states(self, probs: Tensor) -> Tensor:
        """Pad a distribution over the K data classes to the M states (zero mass on the mask state)."""
        return F.pad(probs, (0, self.num_states - probs.shape[-1]))

    def marginal(self, x0: Tensor, t: Tensor | float) -> Tensor:
        """:math:`q(x_t\\mid x_0)` as ``[..., M]`` for integer ``x0``."""
        a = self.keep(t, x0)[..., None]
        return a * F.one_hot(x0, self.num_states).double() + (1 - a) * self.pi.to(x0.device)

    def sample(self, x0: Tensor, t: Tensor | float, generator: torch.Generator | None = None) -> Tensor:
        """Draw :math:`x_t\\sim q(x_t\\mid x_0)`: keep each token with probability a(t), else draw from the prior."""
        a = self.keep(t, x0)
        keep = torch.rand(x0.shape, generator=generator, device=x0.device) < a
        return torch.where(keep, x0, self.sample_prior(x0.shape, x0.device, generator))

    def renoise(self, x_s: Tensor, s: float, t: float, generator: torch.Generator | None = None) -> Tensor:
        """A draw of :math:`x_t\\sim q(x_t\\mid x_s)` for :math:`t > s`: keep each token with probability
        :math:`a(t)/a(s)`, else draw it from the prior (the family composes:
        :math:`\\sum_{x_s}q(x_t\\mid x_s)\\,q(x_s\\mid x_0)=q(x_t\\mid x_0)`)."""
        a_s, a_t = self.keep(s, x_s), self.keep(t, x_s)
        keep_probability = torch.where(a_s > 0, a_t / a_s.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
        keep = torch.rand(x_s.shape, generator=generator, device=x_s.device) < keep_probability
        return torch.where(keep, x_s, self.sample_prior(x_s.shape, x_s.device, generator))

    def sample_prior(self, shape: torch.Size, device: torch.device, generator: torch.Generator | None = None
                     ) -> Tensor:
        """Independent draws from :math:`\\pi`."""
        pi = self.pi.to(device=device)
        return draw(pi.expand(*shape, len(pi)), generator)

    def _weights(self, x_t: Tensor, probs: Tensor, a_t: Tensor) -> Tensor:
        """:math:`w(x_0) = p(x_0)/q(x_t\\mid x_0)` over the M states, zero where :math:`q(x_t\\mid x_0)=0`."""
        pi = self._pi(probs)
        likelihood = a_t * F.one_hot(x_t, self.num_states).to(probs.dtype) + (1 - a_t) * pi[x_t][..., None]
        return torch.where(likelihood > 0, probs / likelihood.clamp_min(torch.finfo(probs.dtype).tiny), 0.0)

    def posterior(self, x_t: Tensor, probs: Tensor, t: Tensor | float, s: Tensor | float) -> Tensor:
        """:math:`\\sum_{x_0}p(x_0)\\,q(x_s\\mid x_t,x_0)` as ``[..., M]`` (closed form in the module docstring).

        ``probs`` is ``[..., K]`` or ``[..., M]``; a one-hot ``probs`` gives the exact posterior. A state ``x_t``
        that ``probs`` makes impossible gets an all-zero row, with a finite (zero) gradient.
        """
        probs = self.to_states(probs)
        pi = self._pi(probs)
        a_t, a_s = self.keep(t, x_t, probs.dtype)[..., None], self.keep(s, x_t, probs.dtype)[..., None]
        a_ts = torch.where(a_s > 0, a_t / a_s.clamp_min(torch.finfo(probs.dtype).tiny), 0.0)
        w = self._weights(x_t, probs, a_t)
        forward = a_ts * F.one_hot(x_t, self.num_states).to(probs.dtype) + (1 - a_ts) * pi[x_t][..., None]
        backward = a_s * w + (1 - a_s) * pi * w.sum(-1, keepdim=True)
        joint = forward * backward
        total = joint.sum(-1, keepdim=True)
        # An impossible x_t (all-zero joint) gives an all-zero row; dividing it by 1 rather than by a clamped tiny
        # total keeps the backward pass finite (1/tiny times an upstream gradient overflows, and inf * 0 is NaN).
        return joint / torch.where(total > 0, total, torch.ones_like(total))

    def nelbo(self, x_t: Tensor, x0: Tensor, probs: Tensor, t: Tensor | float) -> Tensor:
        """The continuous-time NELBO integrand per token (nats per unit time), see the module docstring.

        ``probs`` is the model's :math:`p_\\theta(x_0\\mid x_t)` over the K data classes (for the mask prior with
        unmasked tokens carried over, as :class:`sciddm.categorical_fields.CategoricalField` does).
        """
        t = torch.as_tensor(t, dtype=torch.float64, device=x_t.device)
        dtype = probs.dtype
        a, a_dot = self.keep(t, x_t), _expand(self.schedule.alpha_dot(t), x_t)  # float64
        if self.kind == "mask":
            nll = -torch.log(probs.gather(-1, x0[..., None]).squeeze(-1).clamp_min(torch.finfo(dtype).tiny))
            weight = (-a_dot / (1 - a).clamp_min(torch.finfo(torch.float64).tiny)).to(dtype)
            return torch.where(x_t == self.mask_index, weight * nll, 0.0)
        probs64 = probs.double()
        pi = self._pi(probs64)
        a1 = a[..., None]
        w = self._weights(x_t, probs64, a1)
        model = a1 * w + (1 - a1) * pi * w.sum(-1, keepdim=True)
        truth_num = a1 * F.one_hot(x0, self.num_states).double() + (1 - a1) * pi
        truth = truth_num / truth_num.gather(-1, x_t[..., None])
        divergence = model - truth + torch.xlogy(truth, truth) - torch.xlogy(truth, model)
        others = 1.0 - F.one_hot(x_t, self.num_states).double()
        rate = -a_dot / a.clamp_min(A_FLOOR) * pi[x_t]
        integrand = torch.where(a > A_FLOOR, rate * (divergence * others).sum(-1), 0.0)
        return integrand.to(dtype)

    def reconstruction(self, x0: Tensor, probs: Tensor) -> Tensor:
        """:math:`-\\log p_\\theta(x_0\\mid x_{t_{\\min}})` per token (the decoder term of the NELBO)."""
        return -torch.log(probs.gather(-1, x0[..., None]).squeeze(-1).clamp_min(torch.finfo(probs.dtype).tiny))


def draw(probs: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """One categorical draw per row of ``probs`` [..., M] by inverse CDF (seeded by ``generator``)."""
    cumulative = probs.cumsum(-1)
    u = torch.rand(probs.shape[:-1] + (1,), generator=generator, device=probs.device, dtype=probs.dtype)
    index = (cumulative < u * cumulative[..., -1:]).sum(-1)
    return index.clamp_max(probs.shape[-1] - 1)
