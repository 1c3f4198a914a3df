"""A network wrapper that re-evaluates only the samples whose inputs changed since its last call.

Used by the ``cached`` categorical solver (MDLM's cache, applied per sample): for each row of the batch, if every
field's network input equals the one of the previous call, that row's previous output is returned; the network
is called once on the changed rows only (with their times and context rows), or not at all when no row changed.
The time argument is deliberately ignored for unchanged rows: the cache assumes the output does not depend on
``t`` when the input is the same, which holds for the exact mask-prior denoiser. Context tensors must have the
batch as their leading dimension (the core's batch contract); other context values are passed unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Network = Callable[[dict[str, Tensor], Tensor, dict[str, Tensor]], dict[str, Tensor]]


def _rows(values: dict[str, Tensor], index: Tensor, batch: int) -> dict[str, Tensor]:
    return {k: v[index] if isinstance(v, Tensor) and v.ndim and v.shape[0] == batch else v for k, v in values.items()}


class RowCache:
    """Wraps ``network(inputs, t, context)``; see the module docstring."""

    def __init__(self, network: Network):
        self.network = network
        self._inputs: dict[str, Tensor] | None = None
        self._outputs: dict[str, Tensor] | None = None

    def _changed(self, inputs: dict[str, Tensor]) -> Tensor | None:
        """Rows whose inputs differ from the cached ones; None when the cache cannot be compared."""
        if self._inputs is None or self._inputs.keys() != inputs.keys() or any(
                self._inputs[k].shape != v.shape for k, v in inputs.items()):
            return None
        diffs = [(self._inputs[k] != v).flatten(1).any(1) for k, v in inputs.items()]
        return torch.stack(diffs).any(0)

    def __call__(self, inputs: dict[str, Tensor], t: Tensor, context: dict[str, Tensor]) -> dict[str, Tensor]:
        changed = self._changed(inputs)
        if changed is None or changed.all():
            outputs = self.network(inputs, t, context)
        elif not changed.any():
            outputs = self._outputs
        else:
            index = changed.nonzero().squeeze(1)
            batch = len(changed)
            fresh = self.network(_rows(inputs, index, batch), t[index], _rows(context, index, batch))
            outputs = {k: v.index_copy(0, index, fresh[k].to(v.dtype)) for k, v in self._outputs.items()}
        self._inputs, self._outputs = inputs, outputs
        return dict(outputs)
