r"""Categorical fields: integer class indices on a :class:`~sciddm.paths.categorical.CategoricalPath`.

A field holds class indices ``[B, ...]`` (e.g. residues ``[B, L]``, atom types ``[B, N]``) or, with
``symmetric=True``, edge classes ``[B, N, N]`` over node pairs. What the network sees and returns:

* input: the one-hot noisy state ``[..., M]`` as float (M = K + 1 with the mask state last for the mask prior);
* output: logits ``[..., K]`` or ``[..., M]``; only the first K (the data classes) are used, so the mask state
  never receives probability ("zero-masking"). For the mask prior the estimate carries unmasked tokens over
  unchanged (one-hot of :math:`x_t`), MDLM's SUBS parametrisation (Sahoo et al. 2024).

Losses (``loss``): ``nelbo`` is the continuous-time NELBO integrand per token
(:meth:`CategoricalPath.nelbo`, MDLM's weighted masked cross-entropy for the mask prior), ``cross_entropy``
the plain :math:`-\log p_\theta(x_0\mid x_t)` on every token. Both are averaged over the field's real tokens.

Padding: with ``mask_key``, positions where ``context[mask_key]`` is False are never noised, scored or sampled;
they keep the value they have in the data (training) or in the sampling template. Symmetric edge fields take a
node mask ``[B, N]``; the pair ``(i, j)`` is real when both nodes are, ``i != j``. Their noise, prior draws and
sampler updates are drawn on the upper triangle and mirrored; the diagonal is excluded like padding (it keeps
its value); the logits are symmetrised, :math:`\tfrac12(E + E^\top)`, and each pair is scored once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sciddm.errors import ConfigError, choose
from sciddm.fields import Context, Field, masked_mean
from sciddm.paths.categorical import CategoricalPath, KeepSchedule, LogLinear, prior_vector
from sciddm.solvers.categorical import CategoricalSolver, make_categorical_solver

LOSSES = ("nelbo", "cross_entropy")


class CategoricalField(Field):
    """A field of class indices with ``num_classes`` data classes and a ``prior`` (uniform, mask, marginal).

    Args:
        num_classes: K, the number of data classes (the mask state, if any, is added by the path).
        prior: ``uniform``, ``mask`` (absorbing) or ``marginal`` (needs ``marginal``: the class frequencies, or
            ``"data"`` to have :class:`~sciddm.lightning.DiffusionModule` count them on the training set when
            fitting and store them in the checkpoint).
        schedule: the keep probability :math:`a(t)` (default :class:`LogLinear`).
        loss: ``nelbo`` or ``cross_entropy`` (see the module docstring).
        symmetric: the field is ``[B, N, N]`` over node pairs, kept symmetric with the diagonal excluded.
        mask_key: context key of the real-token mask (a node mask for symmetric fields).
        weight: this field's weight in the summed loss.
    """

    def __init__(self, num_classes: int, prior: str = "mask", schedule: KeepSchedule | None = None,
                 marginal: list[float] | str | None = None, loss: str = "nelbo", symmetric: bool = False,
                 mask_key: str | None = None, weight: float = 1.0):
        super().__init__(weight=weight, mask_key=mask_key)
        choose(loss, dict.fromkeys(LOSSES), "categorical loss")
        self.schedule = schedule or LogLinear()
        self.num_classes = num_classes
        self.loss_type = loss
        self.symmetric = symmetric
        self.marginal_from_data = isinstance(marginal, str)
        self._path: CategoricalPath | None = None
        if self.marginal_from_data:
            if marginal != "data" or prior != "marginal":
                raise ConfigError(f"marginal={marginal!r}: the only word accepted is 'data', with prior='marginal' "
                                  "(otherwise give the class frequencies as a list)")
            prior_vector("uniform", num_classes)  # validates num_classes now
        else:
            self._path = CategoricalPath(self.schedule, num_classes, prior, marginal)

    @property
    def path(self) -> CategoricalPath:
        """The categorical path; with ``marginal='data'`` it exists once :meth:`set_marginal` has run."""
        if self._path is None:
            raise ConfigError("this field's marginal prior comes from the data ('marginal: data') and is not known "
                              "yet: train the model (fit counts it on the training set) or load a checkpoint")
        return self._path

    def set_marginal(self, frequencies: Tensor | list[float]) -> None:
        """Use ``frequencies`` (normalised here) as the marginal prior of a ``marginal='data'`` field."""
        self._path = CategoricalPath(self.schedule, self.num_classes, "marginal", frequencies)

    def class_counts(self, x0: Tensor, context: Context) -> Tensor:
        """Float64 ``[K]`` counts of each class over the real tokens of ``x0`` (each node pair once)."""
        real = self.scored_positions(x0, context)
        tokens = x0 if real is None else x0[real]
        return torch.bincount(tokens.flatten().long(), minlength=self.num_classes)[: self.num_classes].double()

    @property
    def t_range(self) -> tuple[float, float]:
        return self.schedule.t_min, self.schedule.t_max

    # --------------------------------------------------------------- positions and symmetry
    def real_positions(self, like: Tensor, context: Context) -> Tensor | None:
        """Bool [B, ...]: the tokens that are noised and sampled (None: all of them)."""
        mask = self.mask(context)
        if not self.symmetric:
            return mask
        n = like.shape[1]
        off_diagonal = ~torch.eye(n, dtype=torch.bool, device=like.device)
        pairs = off_diagonal.expand(like.shape[0], n, n)
        return pairs if mask is None else pairs & mask[:, :, None] & mask[:, None, :]

    def scored_positions(self, like: Tensor, context: Context) -> Tensor | None:
        """Bool [B, ...]: the tokens the loss and the likelihood count (each node pair once)."""
        real = self.real_positions(like, context)
        if not self.symmetric:
            return real
        return real & torch.ones_like(real[0]).triu(diagonal=1)

    def _place(self, new: Tensor, old: Tensor, context: Context) -> Tensor:
        """Mirror the upper triangle of ``new`` (symmetric fields) and keep ``old`` outside real positions."""
        if self.symmetric:
            upper = torch.ones(new.shape[1:3], dtype=torch.bool, device=new.device).triu(diagonal=1)
            new = torch.where(upper, new, new.transpose(1, 2))
        real = self.real_positions(new, context)
        return new if real is None else torch.where(real, new, old)

    # --------------------------------------------------------------- training
    def corrupt(self, x0, t, context, generator=None):
        x_t = self._place(self.path.sample(x0, t, generator), x0, context)
        return x_t, x_t.new_empty(0)  # no auxiliary noise

    def network_input(self, x_t: Tensor, t: Tensor) -> Tensor:
        return F.one_hot(x_t.long(), self.path.num_states).to(torch.get_default_dtype())

    def denoised(self, output: Tensor, x_t: Tensor, t) -> Tensor:
        """:math:`p_\\theta(x_0\\mid x_t)` over the K data classes (see the module docstring)."""
        logits = output[..., : self.num_classes]
        if self.symmetric:
            logits = 0.5 * (logits + logits.transpose(1, 2))
        probs = torch.softmax(logits.float() if logits.dtype == torch.float16 else logits, dim=-1)
        if self.path.mask_index is None:
            return probs
        kept = x_t != self.path.mask_index
        carried = F.one_hot(torch.where(kept, x_t, 0).long(), self.num_classes).to(probs.dtype)
        return torch.where(kept[..., None], carried, probs)

    def token_losses(self, output: Tensor, x0: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """Per-token loss [B, ...] in nats (the NELBO integrand or the cross-entropy)."""
        probs = self.denoised(output, x_t, t)
        if self.loss_type == "nelbo":
            return self.path.nelbo(x_t, x0, probs, t)
        return self.path.reconstruction(x0, probs)

    def loss(self, output, x0, x_t, aux, t, context):
        return masked_mean(self.token_losses(output, x0, x_t, t), self.scored_positions(x0, context))

    # --------------------------------------------------------------- sampling
    def prior(self, like, context, generator=None):
        return self._place(self.path.sample_prior(like.shape, like.device, generator), like, context)

    def make_solver(self, sampler) -> CategoricalSolver:
        solver = make_categorical_solver(sampler.categorical_solver)
        if solver.needs_mask_prior and self.path.kind != "mask":
            raise ConfigError(f"categorical solver {sampler.categorical_solver!r} needs the mask prior; "
                              f"this field has the {self.path.kind} prior (use 'ancestral')")
        return solver

    def is_terminal(self, t: float) -> bool:
        return self.path.is_clean(t)

    def needs_final_denoise(self, t_min: float) -> bool:
        return not self.is_terminal(t_min)

    def final_estimate(self, x, estimate, t_min, context):
        """A grid stopping at ``t_min > 0`` ends with the most likely class of every real token."""
        return self._place(estimate.argmax(-1), x, context)

    def renoise(self, x_s, s, t, context, generator=None):
        return self._place(self.path.renoise(x_s, s, t, generator), x_s, context)

    def update(self, solver: CategoricalSolver, x_t, t, s, estimate, context, generator):
        return self._place(solver.update(self.path, x_t, t, s, estimate, generator), x_t, context)

    def finalize(self, x, context):
        """Padding already holds its template values; nothing to do."""
        return x
