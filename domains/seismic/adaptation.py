r"""Test-time self-supervised adaptation: fine-tune a copy of the network on one survey's own observed traces.

A network trained on synthetic volumes reconstructs a survey from its observed traces ``y`` (mask ``m``). The
survey itself holds more training data of exactly its own kind: any observed trace can be hidden and predicted
from the others. :func:`adapt_module` fine-tunes a copy of the sampling network for ``steps`` optimiser steps
on such re-masked copies of the survey and never reads a missing trace (they are zeroed before anything else).

Each step draws ``batch_size`` examples. Example ``b`` crops a random patch of the normalised, zero-filled
survey, hides a random ``hidden_fraction`` of the patch's observed traces (set ``h``, re-masked
``m' = m \wedge \neg h``), maps the patch by a random grid symmetry ``g`` of the reconstruction's group (and,
with ``polarity``, a random sign), rebuilds the conditions ``observed``, ``mask`` and ``interpolated`` from
``m'`` exactly as the training data does (:func:`data.measurement_context`), and scores the one-step clean
estimate from pure noise, the quantity the ``estimate`` reconstruction uses, on the hidden traces:

.. math::  L = \frac1B \sum_b \frac{\sum_{i \in h_b} \| \hat x_0(x_T, t_{\max} \mid y_b', m_b')_i - y_{b,i} \|^2}
                                 {n_t\,|h_b|},\qquad x_T \sim \text{prior}.

With ``replay`` > 0 every step also takes ``replay`` examples of the training data (``replay_data``, e.g. the
datamodule's synthetic training set; their own missing traces are the hidden ones, with the true values), so
the copy specialises to the survey without forgetting what it learned in training. The optimiser is Adam with
learning rate ``lr``, constant or (``schedule="cosine"``) decayed towards zero over the steps,
``lr_k = lr (1 + cos(pi k / steps)) / 2`` at step ``k = 0, ..., steps - 1``, so that the last steps average out
the noise of the re-masking instead of ending on it. Hidden traces are a small fraction so that the re-masked
inputs stay close to the survey's own density of observed traces.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from domains.seismic.data import fit_normalization, measurement_context
from domains.seismic.masks import volume_mask
from domains.seismic.symmetry import GridSymmetry, symmetry_maps
from sciddm.errors import ConfigError
from sciddm.lightning.module import DiffusionModule
from sciddm.lightning.optimization import LR_DECAYS, learning_rate_factor
from sciddm.sampling import make_estimator

FIELD = "volume"
SCHEDULES = LR_DECAYS


@dataclass(frozen=True)
class Adaptation:
    """How to adapt: optimiser ``steps`` (0: none), Adam learning rate ``lr``, the fraction of a patch's observed
    traces hidden per example, survey examples and training examples (``replay``) per step, the seed of the
    re-masking, crops, replayed examples and noise, and the learning-rate ``schedule`` (constant or cosine)."""

    steps: int = 0
    lr: float = 1e-4
    hidden_fraction: float = 0.2
    batch_size: int = 4
    replay: int = 0
    seed: int = 0
    schedule: str = "constant"

    def __post_init__(self):
        if self.steps < 0 or self.batch_size < 1 or self.replay < 0:
            raise ConfigError(f"adaptation needs steps >= 0, batch_size >= 1 and replay >= 0, got {self.steps}, "
                              f"{self.batch_size}, {self.replay}")
        if not 0 < self.hidden_fraction < 1 or not self.lr > 0:
            raise ConfigError(f"adaptation needs 0 < hidden_fraction < 1 and lr > 0, got {self.hidden_fraction}, "
                              f"{self.lr}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown adaptation schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")

    def learning_rate(self, step: int) -> float:
        """The Adam learning rate of optimiser step ``step`` (0-based): the training schedule of the core
        (:func:`sciddm.lightning.optimization.learning_rate_factor`) without warm-up."""
        return self.lr * learning_rate_factor(step, 0, self.steps if self.schedule == "cosine" else None)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Adaptation:
        """From the options of :func:`add_adaptation_arguments` (and ``--seed``)."""
        return cls(args.adapt_steps, args.adapt_lr, args.adapt_hidden, args.adapt_batch, args.adapt_replay, args.seed,
                   args.adapt_schedule)


def add_adaptation_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--adapt_*`` options of ``sciddm reconstruct`` and ``benchmarks/seismic.py``."""
    parser.add_argument("--adapt_steps", type=int, default=0,
                        help="fine-tune the network on the survey's own observed traces for N steps first (0: off)")
    parser.add_argument("--adapt_lr", type=float, default=Adaptation.lr, help="Adam learning rate of the adaptation")
    parser.add_argument("--adapt_hidden", type=float, default=Adaptation.hidden_fraction,
                        help="fraction of the observed traces hidden per adaptation example")
    parser.add_argument("--adapt_batch", type=int, default=Adaptation.batch_size,
                        help="survey examples per adaptation step")
    parser.add_argument("--adapt_replay", type=int, default=Adaptation.replay,
                        help="training examples (the config's data) per adaptation step, against forgetting")
    parser.add_argument("--adapt_schedule", choices=SCHEDULES, default=Adaptation.schedule,
                        help="adaptation learning rate: constant, or cosine decay towards zero over the steps")


def remasked_example(known: np.ndarray, mask: np.ndarray, patch_shape: Sequence[int], hidden_fraction: float,
                     symmetry: GridSymmetry, sign: float, interpolate: bool, rng: np.random.Generator
                     ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One self-supervised example of the zero-filled survey ``known`` with trace mask ``m``: the conditions of
    a random patch with ``round(hidden_fraction * n_observed)`` of its observed traces hidden, the patch itself
    (the target, correct on the observed traces only) and the hidden traces (trace mask), all mapped by
    ``symmetry`` and multiplied by ``sign``."""
    corner = [int(rng.integers(s - p + 1)) for s, p in zip(known.shape, patch_shape, strict=True)]
    window = tuple(slice(c, c + p) for c, p in zip(corner, patch_shape, strict=True))
    patch, patch_mask = symmetry.apply(sign * known[window]), symmetry.apply(mask[window[:2]])
    observed = np.flatnonzero(patch_mask)
    hidden = np.zeros(patch_mask.size, dtype=bool)
    hidden[rng.choice(observed, size=round(hidden_fraction * observed.size), replace=False)] = True
    hidden = hidden.reshape(patch_mask.shape)
    return measurement_context(patch, patch_mask & ~hidden, interpolate), patch, hidden


def replayed_example(example: tuple[dict, dict]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A training example ``(fields, context)`` (tensors ``[1, D, H, W]``) as (conditions, target, hidden
    traces): its missing traces are the hidden ones."""
    fields, context = example
    conditions = {key: value[0].numpy() for key, value in context.items()}
    return conditions, fields[FIELD][0].numpy(), conditions["mask"][..., 0] < 0.5


def adapt_module(module: DiffusionModule, volume: np.ndarray, mask: np.ndarray, patch_shape: Sequence[int],
                 adaptation: Adaptation, normalization: str = "rms", interpolate: bool = False,
                 symmetries: int = 1, polarity: bool = False, replay_data: Dataset | None = None,
                 progress: bool = False) -> DiffusionModule:
    """A copy of ``module`` whose sampling network is fine-tuned on the observed traces of ``volume`` (module
    docstring); ``module`` is left unchanged. ``mask`` must be a trace mask ``[n_il, n_xl]`` (True = observed);
    the patch augmentations are the reconstruction's ``symmetries`` (1, 4 or 8 grid maps) and, with
    ``polarity``, a random sign. ``replay_data`` (``(fields, context)`` examples of the field ``volume`` with a
    ``mask`` of the patch's shape) is needed when ``adaptation.replay`` > 0. Same inputs and seed, same weights.
    ``progress`` shows a progress bar with an exponential moving average of the loss (weight 0.05 per step)."""
    if adaptation.steps == 0:
        return module
    if adaptation.replay and replay_data is None:
        raise ConfigError("adaptation with replay > 0 needs replay_data (training examples)")
    if mask.shape != volume.shape[:2]:
        raise ConfigError(f"adaptation needs a trace mask of the grid {volume.shape[:2]}, got {mask.shape}")
    if any(size < patch for size, patch in zip(volume.shape, patch_shape, strict=True)):
        raise ConfigError(f"adaptation crops training patches {tuple(patch_shape)} from the survey, which is smaller: "
                          f"{volume.shape}")
    maps = symmetry_maps(symmetries)
    known = np.where(volume_mask(mask, volume.shape), volume, 0).astype(np.float64)  # the only survey data read
    known = np.asarray(fit_normalization(known, mask, normalization).normalise(known), dtype=np.float32)
    adapted = copy.deepcopy(module)
    network, field = adapted.sampling_network, adapted.fields[FIELD]
    t_max = field.t_range[1]  # where the one-step estimate starts (the time grid's first point)
    optimizer = torch.optim.Adam(network.parameters(), lr=adaptation.lr)
    rng = np.random.default_rng(adaptation.seed)
    generator = torch.Generator(device=adapted.device).manual_seed(adaptation.seed)
    as_batch = lambda arrays: torch.from_numpy(np.stack(arrays))[:, None].to(adapted.device)  # noqa: E731
    bar = tqdm(range(adaptation.steps), desc="adapting", disable=not progress, leave=False)
    running = None
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = adaptation.learning_rate(step)
        examples = [remasked_example(known, mask, patch_shape, adaptation.hidden_fraction,
                                     maps[rng.integers(len(maps))], float(rng.choice((-1, 1)) if polarity else 1),
                                     interpolate, rng) for _ in range(adaptation.batch_size)]
        examples += [replayed_example(replay_data[int(rng.integers(len(replay_data)))])
                     for _ in range(adaptation.replay)]
        context = {key: as_batch([c[key] for c, _, _ in examples]) for key in examples[0][0]}
        target = as_batch([patch for _, patch, _ in examples])
        hidden = as_batch([np.broadcast_to(h[..., None], patch.shape).astype(np.float32)
                           for _, patch, h in examples])
        x_t = field.prior(target, context, generator)
        estimate = make_estimator(network, adapted.fields, context)({FIELD: x_t}, t_max)[FIELD]  # as the sampler
        squared = (estimate - target) ** 2 * hidden
        loss = (squared.flatten(1).sum(1) / hidden.flatten(1).sum(1).clamp(min=1)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if progress:
            running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
            bar.set_postfix(loss=f"{running:.4f}", refresh=False)
    return adapted
