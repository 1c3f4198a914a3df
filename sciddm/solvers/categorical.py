r"""Discrete solvers for categorical fields: move tokens from time ``t`` to ``s < t`` given :math:`p_\theta(x_0|x_t)`.

* ``ancestral``: draw :math:`x_s\sim\sum_{x_0}p_\theta(x_0\mid x_t)\,q(x_s\mid x_t,x_0)` (the exact posterior,
  :meth:`CategoricalPath.posterior`), for any prior (D3PM/MDLM ancestral sampling).
* ``cached``: ``ancestral`` for the mask prior, and the network is not re-evaluated for a sample none of whose
  tokens changed since the last evaluation: its previous output is reused (MDLM's cache, Sahoo et al. 2024, per
  sample). Exact for a denoiser whose output does not depend on ``t`` (true of the exact mask-prior denoiser);
  for a time-conditioned network it reuses the output of the earlier time. Skipped evaluations are not counted
  in the NFE; a partial evaluation (only the changed samples) counts as one.
* ``remdm``: ReMDM remasking for the mask prior (Wang et al. 2025, eq. 6): with
  :math:`\sigma_{\max}=\min(1,(1-a_s)/a_t)`, an unmasked token is remasked with probability :math:`\sigma`, a
  masked one is unmasked to :math:`x\sim p_\theta` with probability :math:`(a_s-(1-\sigma)a_t)/(1-a_t)`.
  ``strategy="cap"``: :math:`\sigma=\min(\eta,\sigma_{\max})`; ``"rescale"``: :math:`\sigma=\eta\sigma_{\max}`.
  The marginals :math:`q(x_s\mid x_0)` are those of the forward process for any admissible :math:`\sigma`.

The step onto :math:`a(s)=1` (``s = 0``) is the final step: ``final="sample"`` draws :math:`x_0\sim p_\theta`,
``final="greedy"`` takes the most likely class (unmasked tokens are kept either way under the mask prior's
carry-over).

Every solver takes a sampling ``temperature`` :math:`\tau > 0`: each step uses the tempered prediction
:math:`p_\tau(x_0\mid x_t)\propto p_\theta(x_0\mid x_t)^{1/\tau}` in place of :math:`p_\theta` (per token), both
in the transition and on the final step. :math:`\tau = 1` (the default) is the model; :math:`\tau < 1` sharpens
every step towards the predicted classes (low-temperature sampling, which trades diversity for the model's modes;
the samples no longer target :math:`p_\theta`); as :math:`\tau\to 0` every token that a step changes takes its
most likely class (which tokens change, e.g. which are unmasked, stays random). A tilt applied to the prediction
before the solver (categorical gradient guidance, scale :math:`w`) is tempered with it, so it acts with scale
:math:`w/\tau`.

Solvers are named in configs as ``name`` or ``name:key=value,...`` (e.g. ``remdm:eta=0.05``,
``ancestral:final=greedy``, ``ancestral:temperature=0.8``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sciddm.errors import ConfigError, choose
from sciddm.paths.categorical import CategoricalPath, draw

FINAL_RULES = ("sample", "greedy")


def tempered(probs: Tensor, temperature: float) -> Tensor:
    r""":math:`p^{1/\tau} / \sum_k p_k^{1/\tau}` over the last axis (``probs`` itself for :math:`\tau = 1`). Powers
    are taken of ``probs / max(probs)``, so the largest class keeps weight 1 and the normaliser cannot underflow."""
    if temperature == 1.0:
        return probs
    scaled = (probs / probs.amax(-1, keepdim=True).clamp_min(torch.finfo(probs.dtype).tiny)) ** (1.0 / temperature)
    return scaled / scaled.sum(-1, keepdim=True)


class CategoricalSolver:
    """Base class: :meth:`transition` gives the distribution of :math:`x_s` under a prediction,
    :meth:`distribution` that of the solver's step (tempered prediction, final step), :meth:`update` draws it."""

    reuses_outputs: bool = False
    needs_mask_prior: bool = False

    def __init__(self, final: str = "sample", temperature: float = 1.0):
        if final not in FINAL_RULES:
            raise ConfigError(f"final step must be one of {', '.join(FINAL_RULES)}, got {final!r}")
        if not 0 < temperature < math.inf:
            raise ConfigError(f"sampling temperature must be finite and > 0, got {temperature}")
        self.final = final
        self.temperature = float(temperature)

    def reset(self) -> None:
        """No history between steps."""

    def transition(self, path: CategoricalPath, x_t: Tensor, t: float, s: float, probs: Tensor) -> Tensor:
        raise NotImplementedError

    def distribution(self, path: CategoricalPath, x_t: Tensor, t: float, s: float, probs: Tensor) -> Tensor:
        """The distribution from which :meth:`update` draws ``x_s`` (every step but a greedy final one) given the
        predicted clean distribution ``probs`` [..., K]: on the final step the tempered prediction itself
        [..., K], else its transition [..., M] over the path's states (K + 1 under the mask prior)."""
        probs = tempered(probs, self.temperature)
        return probs if path.is_clean(s) else self.transition(path, x_t, t, s, probs)

    def update(self, path: CategoricalPath, x_t: Tensor, t: float, s: float, probs: Tensor,
               generator: torch.Generator | None) -> Tensor:
        """``x_s`` given the predicted clean distribution ``probs`` [..., K]."""
        if self.final == "greedy" and path.is_clean(s):
            return probs.argmax(-1)  # tempering keeps the most likely class
        return draw(self.distribution(path, x_t, t, s, probs), generator)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


class Ancestral(CategoricalSolver):
    """Draws from the posterior under the predicted distribution over :math:`x_0`."""

    def transition(self, path, x_t, t, s, probs):
        return path.posterior(x_t, probs, t, s)


class Cached(Ancestral):
    """Mask-prior ancestral sampling whose network outputs are reused for unchanged samples."""

    reuses_outputs = True
    needs_mask_prior = True


class Remasking(CategoricalSolver):
    """ReMDM remasking sampler (mask prior); ``eta`` and ``strategy`` as in the module docstring."""

    needs_mask_prior = True

    def __init__(self, eta: float = 0.02, strategy: str = "cap", final: str = "sample", temperature: float = 1.0):
        super().__init__(final, temperature)
        choose(strategy, dict.fromkeys(("cap", "rescale")), "remasking strategy")
        if not 0.0 <= eta <= 1.0:
            raise ConfigError(f"remasking eta must lie in [0, 1], got {eta}")
        self.eta = eta
        self.strategy = strategy

    def transition(self, path, x_t, t, s, probs):
        a_t, a_s = (float(path.schedule.alpha(torch.tensor(v, dtype=torch.float64))) for v in (t, s))
        sigma_max = min(1.0, (1.0 - a_s) / a_t) if a_t > 0 else 1.0
        sigma = min(self.eta, sigma_max) if self.strategy == "cap" else self.eta * sigma_max
        mask = torch.zeros(path.num_states, dtype=probs.dtype, device=probs.device)
        mask[path.mask_index] = 1.0
        unmask = (a_s - (1.0 - sigma) * a_t) / (1.0 - a_t)
        from_masked = unmask * path.to_states(probs) + (1.0 - unmask) * mask
        from_kept = (1.0 - sigma) * torch.nn.functional.one_hot(x_t, path.num_states).to(probs.dtype) + sigma * mask
        return torch.where((x_t == path.mask_index)[..., None], from_masked, from_kept)


CATEGORICAL_SOLVERS: dict[str, type[CategoricalSolver]] = {"ancestral": Ancestral, "cached": Cached,
                                                           "remdm": Remasking}


def _parse_value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def make_categorical_solver(spec: str) -> CategoricalSolver:
    """Build a solver from ``name`` or ``name:key=value,...`` (see the module docstring)."""
    name, _, options = spec.partition(":")
    cls = choose(name.strip(), CATEGORICAL_SOLVERS, "categorical solver")
    kwargs = {}
    for item in filter(None, (part.strip() for part in options.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"categorical solver option {item!r} in {spec!r} must be written key=value")
        kwargs[key.strip()] = _parse_value(value.strip())
    try:
        return cls(**kwargs)
    except TypeError:
        raise ConfigError(f"unknown option(s) {sorted(kwargs)} for categorical solver {name!r}") from None
