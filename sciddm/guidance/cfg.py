r"""Classifier-free guidance (Ho & Salimans 2022) as a network wrapper.

.. math:: \text{out} = \text{out}_\varnothing + w\,(\text{out}_c - \text{out}_\varnothing)

applied to every field's raw output: for affine parametrisations (eps, x0, v, velocity) this is the same
combination of the clean estimates; for categorical logits it tilts :math:`\log p` by
:math:`w\log p_c + (1-w)\log p_\varnothing`. ``w = 1`` is exactly the conditional model and ``w = 0`` exactly
the unconditional one (one network call each); other scales cost two calls per step.
The unconditional call replaces the condition ``key`` in the context by ``null_value`` (the model must have
been trained with condition dropout to that value).
"""

from __future__ import annotations

from torch import Tensor

from sciddm.sampling import Network


class ClassifierFreeGuidance:
    """Wrap ``network`` so each call returns the guided combination of conditional and null-condition outputs."""

    def __init__(self, network: Network, scale: float, key: str = "label", null_value: int | float = -1):
        self.network = network
        self.scale = scale
        self.key = key
        self.null_value = null_value

    def null_context(self, context: dict[str, Tensor]) -> dict[str, Tensor]:
        return {**context, self.key: context[self.key].new_full(context[self.key].shape, self.null_value)}

    def __call__(self, inputs: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        if self.scale == 1.0:
            return self.network(inputs, t, context)
        unconditional = self.network(inputs, t, self.null_context(context))
        if self.scale == 0.0:
            return unconditional
        conditional = self.network(inputs, t, context)
        return {name: unconditional[name] + self.scale * (conditional[name] - unconditional[name])
                for name in conditional}
