r"""Targeted exposure augmentations of the symmetric edge field across the community cut, for training only.

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

**Cut injection**, the mirror image. Measured on samples of the Community-small models (docs/graphs.md, round 6),
the sampler's more common fault is the opposite one: too many cross edges (2.0-2.6 on average against the data's
1.25, 23-42% of samples with three or more, by model and sampler) and correspondingly fewer edges inside the
communities. Our reading: at small :math:`t` the path rarely shows a spurious cross edge, so the network reads any
cross edge of a nearly clean :math:`x_t` as real and keeps it. With probability :math:`\rho_{\text{inj}}`
(``cut_injection``) per training graph with :math:`t \le t_{\max}`, ``cut_injection_edges`` cross pairs of
:math:`x_t` that hold "no edge", chosen uniformly, are set to ``injected_edge``; the target is unchanged. A graph is
emptied or injected, never both (one uniform :math:`u` per graph: :math:`u < \rho` empties, :math:`\rho \le u < \rho
+ \rho_{\text{inj}}` injects). The same argument holds: the injected states have positive probability under
:math:`q` (the marginal or uniform prior gives every edge class positive probability; a mask prior does not, and is
refused), so the loss still targets :math:`p(x_0\mid x_t)` under a re-weighted distribution, in which a surplus of
cross edges at small :math:`t` is, correctly, mostly noise.

Where it applies: only when ``context`` holds ``side_key``, which :class:`domains.graphs.data.GraphDataModule`
puts into training batches with ``cut_sides=True`` (not into validation batches or sampling templates). Sampling
uses only the inherited ``prior`` / ``update`` / ``renoise``, so it is the plain field's; with
``cut_dropout = cut_injection = 0`` ``corrupt`` draws no extra random numbers and equals
:class:`CategoricalField`'s bit for bit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from sciddm.categorical_fields import CategoricalField
from sciddm.errors import ConfigError
from sciddm.paths.categorical import KeepSchedule


class CutDropoutEdgeField(CategoricalField):
    """A symmetric edge :class:`CategoricalField` whose training corruption empties the community cut of a fraction
    ``cut_dropout`` of the graphs with training time at most ``cut_dropout_max_time``, and adds
    ``cut_injection_edges`` spurious cross edges to a further fraction ``cut_injection`` (module docstring).

    Args (beyond :class:`CategoricalField`'s, which keep their meaning and defaults, except ``symmetric``):
        cut_dropout: :math:`\\rho`, the probability per training graph (0 = the plain field).
        cut_dropout_max_time: :math:`t_{\\max}`; graphs drawn at a later training time are never emptied.
        side_key: context key of the per-node bisection side ``[B, N]`` (0/1).
        no_edge: the class that means "no edge".
        cut_injection: :math:`\\rho_{\\text{inj}}`, the probability per training graph of the injection
            (``cut_dropout + cut_injection <= 1``; same time limit).
        cut_injection_edges: how many cross pairs holding ``no_edge`` are set to ``injected_edge`` (fewer if the graph
            has fewer).
        injected_edge: the edge class the injection writes.
    """

    def __init__(self, num_classes: int, prior: str = "mask", schedule: KeepSchedule | None = None,
                 marginal: list[float] | str | None = None, loss: str = "nelbo", symmetric: bool = True,
                 mask_key: str | None = None, weight: float = 1.0, cut_dropout: float = 0.0,
                 cut_dropout_max_time: float = 1.0, side_key: str = "cut_side", no_edge: int = 0,
                 cut_injection: float = 0.0, cut_injection_edges: int = 2, injected_edge: int = 1):
        super().__init__(num_classes, prior, schedule, marginal, loss, symmetric, mask_key, weight)
        if not symmetric:
            raise ConfigError("cut dropout acts on node pairs: the edge field needs symmetric=True")
        if prior == "mask" and cut_dropout + cut_injection > 0:
            raise ConfigError("cut dropout and injection write edge classes into x_t, which a mask-prior path never "
                              "shows (it only masks): use prior 'marginal' or 'uniform'")
        if min(cut_dropout, cut_injection) < 0.0 or cut_dropout + cut_injection > 1.0:
            raise ConfigError(f"cut_dropout={cut_dropout} and cut_injection={cut_injection} are not probabilities "
                              "of exclusive events (each >= 0, sum <= 1)")
        if not 0 <= no_edge < num_classes or not 0 <= injected_edge < num_classes or injected_edge == no_edge:
            raise ConfigError(f"no_edge={no_edge} and injected_edge={injected_edge} must be two different ones of "
                              f"the {num_classes} edge classes")
        if cut_injection_edges < 1:
            raise ConfigError(f"cut_injection_edges={cut_injection_edges} must be >= 1")
        self.cut_dropout = cut_dropout
        self.cut_dropout_max_time = cut_dropout_max_time
        self.side_key = side_key
        self.no_edge = no_edge
        self.cut_injection = cut_injection
        self.cut_injection_edges = cut_injection_edges
        self.injected_edge = injected_edge

    def corrupt(self, x0, t, context, generator=None):
        x_t, aux = super().corrupt(x0, t, context, generator)
        sides = context.get(self.side_key)
        if self.cut_dropout == self.cut_injection == 0.0 or sides is None:
            return x_t, aux
        return self.augment_cut(x_t, t, sides, context, generator), aux

    def augment_cut(self, x_t: Tensor, t: Tensor | float, sides: Tensor, context, generator=None) -> Tensor:
        """``x_t`` with the cut emptied (every real cross-side pair set to ``no_edge``) in the graphs drawn with
        probability ``cut_dropout``, and ``cut_injection_edges`` empty cross pairs set to ``injected_edge`` in those
        drawn with probability ``cut_injection``, among the graphs with ``t <= cut_dropout_max_time`` (one uniform
        per graph decides, then one uniform per pair picks the injected pairs)."""
        size = x_t.shape[0]
        times = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(size)
        u = torch.rand(size, generator=generator, device=x_t.device)
        eligible = times <= self.cut_dropout_max_time
        emptied, injected = eligible & (u < self.cut_dropout), eligible & (u >= self.cut_dropout)
        injected &= u < self.cut_dropout + self.cut_injection
        cross = cross_side_pairs(sides.to(x_t.device)) & self.real_positions(x_t, context)
        x_t = torch.where(emptied[:, None, None] & cross, torch.full_like(x_t, self.no_edge), x_t)
        if self.cut_injection == 0.0:
            return x_t
        candidates = injected[:, None, None] & cross & (x_t == self.no_edge) & torch.ones_like(cross[0]).triu(1)
        chosen = random_pairs(candidates, self.cut_injection_edges, generator)
        chosen = chosen | chosen.transpose(1, 2)
        return torch.where(chosen, torch.full_like(x_t, self.injected_edge), x_t)


def random_pairs(candidates: Tensor, count: int, generator: torch.Generator | None = None) -> Tensor:
    """Bool like ``candidates`` ``[B, N, N]``: per graph, ``count`` of its True entries chosen uniformly without
    replacement (all of them if it has fewer)."""
    scores = torch.rand(candidates.shape, generator=generator, device=candidates.device).masked_fill(~candidates, -1.0)
    flat = scores.flatten(1)
    top = flat.topk(min(count, flat.shape[1]), dim=1).indices
    chosen = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, top, True) & (flat >= 0)
    return chosen.view_as(candidates)


def cross_side_pairs(sides: Tensor) -> Tensor:
    """Bool ``[B, N, N]``: the pairs whose nodes lie on different sides (``sides`` ``[B, N]``, padding included)."""
    return sides[:, :, None] != sides[:, None, :]
