r"""Self-conditioning (Chen, Zhang & Hinton 2022, "Analog Bits"): the network also sees its previous estimate.

A network opts in by declaring the attribute ``self_conditioning = True``. It then finds, in its context under
the key :data:`SELF_CONDITION`, a dict ``{field: estimate}`` holding each field's previous clean-data estimate
:math:`\tilde x_0` in the form :meth:`sciddm.fields.Field.denoised` returns it (the data for Gaussian fields, class
probabilities for categorical ones), detached from the graph; when the key is absent there is no estimate and the
network reads zeros in its place.

**Training** (:class:`sciddm.DiffusionModule`, probability ``rate``, 0.5 in the paper): for a whole batch, with
probability ``rate`` a first pass without gradients gives :math:`\tilde x_0 = \hat x_0(x_t, t, \varnothing)`
and the loss is taken on :math:`D_\theta(x_t, t, \operatorname{sg}(\tilde x_0))`; otherwise on
:math:`D_\theta(x_t, t, \varnothing)`. The extra pass costs one forward evaluation on a fraction ``rate`` of the
batches.

**Sampling** (:func:`sciddm.sampling.make_estimator`): evaluation :math:`k` receives the estimate of evaluation
:math:`k-1` (none at the first), at no extra network evaluation. Particle methods (SMC, SVDD), reward fine-tuning
rollouts and the cached masked sampler do not carry estimates across their row selections and refuse such a
network; the likelihood bound (:mod:`sciddm.likelihood`) evaluates it without an estimate.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from sciddm.errors import ConfigError

SELF_CONDITION = "self_condition"


def is_self_conditioned(network: Any) -> bool:
    """Whether ``network`` reads its previous estimate from the context (declares ``self_conditioning = True``)."""
    return bool(getattr(network, "self_conditioning", False))


def with_estimates(context: dict[str, Any], estimates: dict[str, Tensor]) -> dict[str, Any]:
    """A copy of ``context`` carrying ``estimates`` (the caller detaches them) under :data:`SELF_CONDITION`."""
    return {**context, SELF_CONDITION: dict(estimates)}


def previous_estimate(context: dict[str, Any], field: str, shape: tuple[int, ...], reference: Tensor) -> Tensor:
    """The estimate of ``field`` a self-conditioned network should read: the stored one, or zeros of ``shape``.

    Either way it comes with ``reference``'s dtype and device.
    """
    stored = context.get(SELF_CONDITION, {}).get(field)
    return reference.new_zeros(shape) if stored is None else stored.to(device=reference.device, dtype=reference.dtype)


def refuse_self_conditioned(network: Any, method: str) -> None:
    """Raise a :class:`ConfigError` naming ``method`` if ``network`` is self-conditioned (see the module docstring)."""
    if is_self_conditioned(network):
        raise ConfigError(f"{method} does not carry self-conditioning estimates; use a network trained without "
                          "self_conditioning, or sample it with sample_fields")
