r"""Targeted exposure augmentation ("cut dropout") of the symmetric edge field, for training only.

Why: an ancestral sampler that has removed every edge across a graph's community cut must put a bridge back, but
the forward path :math:`q(x_t\mid x_0)` corrupts pairs independently and shows the network that state rarely
(0.28% of Community-small training examples, :mod:`domains.graphs.exposure`), so the network is mis-calibrated
exactly there.

What: with probability :math:`\rho` per training graph (``cut_dropout``), and only when its training time is
:math:`t \le t_{\max}` (``cut_dropout_max_time``), every real pair of :math:`x_t\sim q(x_t\mid x_0)` that crosses
the balanced bisection of :math:`x_0` with the fewest cut edges (:mod:`domains.graphs.cuts`, carried per node in
``context[side_key]``, 0/1) is set to "no edge" (class ``no_edge``); same-side pairs keep their path draw and the
target :math:`x_0` is unchanged. The training distribution of :math:`x_t` becomes

.. math:: (1-\rho_t)\,q(x_t\mid x_0) + \rho_t\,q(x_t^{\text{same side}}\mid x_0)\,
          \mathbb 1[x_t^{\text{cross}} = 0],\qquad \rho_t = \rho\,\mathbb 1[t\le t_{\max}].

Every state it adds has positive probability under :math:`q` (the marginal prior gives "no edge" positive
probability), so the loss still targets :math:`p(x_0\mid x_t)` for a re-weighted distribution of
:math:`(x_0, x_t)`: in a cut-empty state the posterior still says that the clean graph has a bridge among the cross
pairs when every training graph is connected (as in the exact posterior). Its limit: the augmented states come
with the true cut emptied, so *where* the posterior puts the bridge, and how sure it is that the empty cut is the
communities' cut, is weighted towards the training graphs' own cuts, not by :math:`q`.

Where it applies: only when ``context`` holds ``side_key``, which :class:`domains.graphs.data.GraphDataModule`
puts into training batches with ``cut_sides=True`` (not into validation batches or sampling templates). Sampling
uses only the inherited ``prior`` / ``update`` / ``renoise``, so it is the plain field's; with
``cut_dropout = 0`` ``corrupt`` draws no extra random numbers and equals :class:`CategoricalField`'s bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.paths.categorical import KeepSchedule


class CutDropoutEdgeField(CategoricalField):
    """A symmetric edge :class:`CategoricalField` whose training corruption empties the community cut of a fraction
    ``cut_dropout`` of the graphs with training time at most ``cut_dropout_max_time`` (module docstring).

    Args (beyond :class:`CategoricalField`'s, which keep their meaning and defaults, except ``symmetric``):
        cut_dropout: :math:`\\rho`, the probability per training graph (0 = the plain field).
        cut_dropout_max_time: :math:`t_{\\max}`; graphs drawn at a later training time are never emptied.
        side_key: context key of the per-node bisection side ``[B, N]`` (0/1).
        no_edge: the class that means "no edge".
    """

    def __init__(self, num_classes: int, prior: str = "mask", schedule: KeepSchedule | None = None,
                 marginal: list[float] | str | None = None, loss: str = "nelbo", symmetric: bool = True,
                 mask_key: str | None = None, weight: float = 1.0, cut_dropout: float = 0.0,
                 cut_dropout_max_time: float = 1.0, side_key: str = "cut_side", no_edge: int = 0):
        super().__init__(num_classes, prior, schedule, marginal, loss, symmetric, mask_key, weight)
        if not symmetric:
            raise ConfigError("cut dropout acts on node pairs: the edge field needs symmetric=True")
        if not 0.0 <= cut_dropout <= 1.0:
            raise ConfigError(f"cut_dropout={cut_dropout} is not a probability")
        if not 0 <= no_edge < num_classes:
            raise ConfigError(f"no_edge={no_edge} is not one of the {num_classes} edge classes")
        self.cut_dropout = cut_dropout
        self.cut_dropout_max_time = cut_dropout_max_time
        self.side_key = side_key
        self.no_edge = no_edge

    def corrupt(self, x0, t, context, generator=None):
        x_t, aux = super().corrupt(x0, t, context, generator)
        sides = context.get(self.side_key)
        if self.cut_dropout == 0.0 or sides is None:
            return x_t, aux
        return self.empty_cut(x_t, t, sides, context, generator), aux

    def empty_cut(self, x_t: Tensor, t: Tensor | float, sides: Tensor, context, generator=None) -> Tensor:
        """``x_t`` with every real cross-side pair set to ``no_edge`` in the graphs chosen with probability
        ``cut_dropout`` among those with ``t <= cut_dropout_max_time`` (one uniform drawn per graph)."""
        size = x_t.shape[0]
        times = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(size)
        chosen = torch.rand(size, generator=generator, device=x_t.device) < self.cut_dropout
        chosen &= times <= self.cut_dropout_max_time
        emptied = chosen[:, None, None] & cross_side_pairs(sides.to(x_t.device)) & self.real_positions(x_t, context)
        return torch.where(emptied, torch.full_like(x_t, self.no_edge), x_t)


def cross_side_pairs(sides: Tensor) -> Tensor:
    """Bool ``[B, N, N]``: the pairs whose nodes lie on different sides (``sides`` ``[B, N]``, padding included)."""
    return sides[:, :, None] != sides[:, None, :]
